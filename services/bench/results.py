"""From blocks to results: per-variant spreads, the paired ratios and headline figures of
issue-level targets, and the JSON + markdown files (`bench/results/`, `latest.json`)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from services.bench.stats import paired_ratio, percentile, ratio, spread, summarize_variant

#: ratio key → (numerator variant, denominator variant, figure), each taken within a block.
PAIRED_RATIOS: dict[str, tuple[str, str, str]] = {
    "platform_vs_bare_throughput_c16": ("platform", "bare_same_shape", "throughput_c16"),
    "platform_vs_bare_p50_c1": ("platform", "bare_same_shape", "p50_c1_ms"),
    "platform_vs_bare_worker_cpu": ("platform", "bare_same_shape", "worker_cpu_norm_per_saga"),
    "platform_vs_bare_server_cpu": ("platform", "bare_same_shape", "cpu_norm_per_saga.server"),
    "unversioned_vs_bare_server_cpu": (
        "platform_unversioned",
        "bare_same_shape",
        "cpu_norm_per_saga.server",
    ),
    "optimized_vs_naive_server_cpu": ("platform", "bare_naive_shape", "cpu_norm_per_saga.server"),
    "optimized_vs_naive_p50_c1": ("platform", "bare_naive_shape", "p50_c1_ms"),
    "tracing_on_off_throughput": ("platform_tracing", "platform", "throughput_c16"),
    "encryption_on_off_throughput": ("platform_encrypted", "platform", "throughput_c16"),
}
RATIO_KEYS = (*PAIRED_RATIOS, "payments_scaling_2", "payments_scaling_4")
#: Figures of `rtw bench cost` kept in latest.json next to the ratios (a bench run keeps them).
COST_KEYS = ("actions_per_happy_order",)
FIGURE_KEYS = (
    "update_p50_ms",
    "update_p99_ms",
    "cold_start_s_max",
    "rss_mb_max",
    "events_per_saga",
)

#: The issues' targets: (comparison, bound); reported next to each number, never assumed.
#: The platform-vs-bare bounds and actions per happy order are issue 23's.
TARGETS: dict[str, tuple[str, float]] = {
    "platform_vs_bare_throughput_c16": (">=", 0.95),
    "platform_vs_bare_p50_c1": ("<=", 1.05),
    "platform_vs_bare_worker_cpu": ("<=", 1.05),
    "platform_vs_bare_server_cpu": ("<=", 1.05),
    "actions_per_happy_order": ("<=", 11.0),
    "optimized_vs_naive_server_cpu": ("<=", 0.6),
    "optimized_vs_naive_p50_c1": ("<=", 0.6),
    "tracing_on_off_throughput": (">=", 0.90),
    "payments_scaling_2": (">=", 1.8),
    "payments_scaling_4": (">=", 3.0),
    "update_p50_ms": ("<=", 10.0),
    "update_p99_ms": ("<=", 30.0),
    "cold_start_s_max": ("<=", 0.6),
    "rss_mb_max": ("<=", 100.0),
}


def meets(key: str, value: float) -> bool | None:
    """Whether `value` meets the target of `key` (None: no target, or no value)."""
    if key not in TARGETS or value is None or math.isnan(value):
        return None
    op, bound = TARGETS[key]
    return value >= bound if op == ">=" else value <= bound


def _clean(value: Any) -> Any:
    """NaN → None, recursively (JSON has no NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def summarize(
    blocks: Sequence[Mapping[str, Any]], scaling: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Spreads per variant, ratios (median, and their spread), the headline figures."""
    names = list(dict.fromkeys(n for b in blocks for n in b["variants"]))
    by_variant = {
        n: summarize_variant([b["variants"][n] for b in blocks if n in b["variants"]])
        for n in names
    }
    per_block = [b["variants"] for b in blocks]
    ratio_spread = {
        key: paired_ratio(per_block, num, den, fig)
        for key, (num, den, fig) in PAIRED_RATIOS.items()
    }
    rates = (scaling or {}).get("by_processes", {})
    one = rates.get("1", {}).get("sagas_per_second", math.nan)
    for n in ("2", "4"):
        value = ratio(rates.get(n, {}).get("sagas_per_second", math.nan), one)
        ratio_spread[f"payments_scaling_{n}"] = spread([value])
    approvals = [x for b in blocks for x in b.get("approve_ms", [])]
    platform = by_variant.get("platform", {})

    def median(key: str) -> float:
        return platform.get(key, {}).get("median", math.nan)

    figures = {
        "update_p50_ms": round(percentile(approvals, 50), 1) if approvals else math.nan,
        "update_p99_ms": round(percentile(approvals, 99), 1) if approvals else math.nan,
        "cold_start_s_max": median("cold_start_s_max"),
        "rss_mb_max": median("rss_mb_max"),
        "events_per_saga": median("events_per_saga"),
    }
    ratios = {key: ratio_spread[key]["median"] for key in RATIO_KEYS}
    return {
        "ratios": ratios,
        "figures": figures,
        "ratio_spread": ratio_spread,
        "update_samples": len(approvals),
        "variants": by_variant,
    }


def _commands(types: Mapping[str, int] | None) -> dict[str, int] | None:
    """Event counts without workflow-task events (how signals and completions batch into
    workflow tasks depends on timing, not on the workflow's shape)."""
    if types is None:
        return None
    return {k: v for k, v in types.items() if not k.startswith("WORKFLOW_TASK_")}


def shape_check(blocks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Event types of OrderSaga's history against the bare same-shape mirror's; they match
    when every type but the workflow-task ones has the same count."""
    events = blocks[0]["event_types"] if blocks else {}
    platform, bare = events.get("platform"), events.get("bare_same_shape")
    return {
        "platform": platform,
        "bare_same_shape": bare,
        "matches": platform is not None and _commands(platform) == _commands(bare),
    }


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _mark(key: str, value: float) -> str:
    verdict = meets(key, value)
    if verdict is None:
        return ""
    op, bound = TARGETS[key]
    return f"{op} {bound:g}: {'met' if verdict else 'missed'}"


def markdown(result: Mapping[str, Any]) -> str:
    """The human-readable report of one run."""
    meta, summary = result["meta"], result["summary"]
    lines = [
        f"# rtw bench run ({meta['profile']})",
        "",
        f"- when: {meta['started_at']}; machine: {meta['machine']}; {meta['cpus']} CPUs; "
        f"load average at start {meta['loadavg_start']}",
        f"- command: `{meta['command']}`; {meta['blocks']} blocks, each on a fresh tuned dev "
        "server, variants in rotated order; sources byte-compiled: "
        f"{meta['bytecode']}",
        "- CPU per saga is measured over the c16 and c64 phases from /proc (server, each "
        "worker, the driver); `norm` divides it by the calibration loop's CPU time in the "
        "same phase (machine speed at that moment)",
        "",
        "## Ratios (median over blocks, each ratio taken within one block; min-max)",
        "",
        "| ratio | median | min-max | target |",
        "|---|---|---|---|",
    ]
    for key in RATIO_KEYS:
        s = summary["ratio_spread"][key]
        lines.append(
            f"| {key} | {_fmt(s['median'])} | {_fmt(s['min'])}-{_fmt(s['max'])} "
            f"| {_mark(key, s['median'])} |"
        )
    lines += ["", "## Figures", "", "| figure | value | target |", "|---|---|---|"]
    for key in FIGURE_KEYS:
        value = summary["figures"][key]
        lines.append(f"| {key} | {_fmt(value)} | {_mark(key, value)} |")
    lines += [
        "",
        f"`approve` round trips: {summary['update_samples']} samples, one at a time, no other "
        "load.",
        "",
        "## Variants (median, min-max over blocks)",
        "",
        "| variant | sagas/s c16 | sagas/s c64 | p50/p95 c1 ms | p50/p95 c16 ms "
        "| CPU ms/saga server / workers / driver | norm workers | events/saga "
        "| cold start s max | RSS MB max | failures |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, figs in summary["variants"].items():

        def m(key: str, figs: Mapping[str, Any] = figs) -> str:
            s = figs.get(key)
            return _fmt(s["median"]) if s else "n/a"

        def mm(key: str, figs: Mapping[str, Any] = figs) -> str:
            s = figs.get(key)
            return f"{_fmt(s['median'])} ({_fmt(s['min'])}-{_fmt(s['max'])})" if s else "n/a"

        lines.append(
            f"| {name} | {mm('throughput_c16')} | {mm('throughput_c64')} "
            f"| {m('p50_c1_ms')} / {m('p95_c1_ms')} | {m('p50_c16_ms')} / {m('p95_c16_ms')} "
            f"| {m('cpu_ms_per_saga.server')} / {m('worker_cpu_ms_per_saga')} / "
            f"{m('cpu_ms_per_saga.driver')} | {m('worker_cpu_norm_per_saga')} "
            f"| {m('events_per_saga')} | {m('cold_start_s_max')} | {m('rss_mb_max')} "
            f"| {m('failures')} |"
        )
    lines += ["", "CPU ms per saga by process (median):", ""]
    for name, figs in summary["variants"].items():
        parts = [
            f"{k.removeprefix('cpu_ms_per_saga.')} {_fmt(v['median'])}"
            for k, v in figs.items()
            if k.startswith("cpu_ms_per_saga.")
        ]
        lines.append(f"- {name}: " + ", ".join(parts))
    scaling = result.get("scaling")
    if scaling:
        lines += [
            "",
            "## Payments-bound scaling (shared PostgreSQL; provider "
            f"{scaling['provider_latency_ms']} ms, "
            f"{scaling['payments_slots_per_process']} call at a time per payments process, "
            f"{scaling['sagas']} sagas started at once)",
            "",
            "| payments processes | sagas/s | seconds | failures |",
            "|---|---|---|---|",
            *(
                f"| {n} | {r['sagas_per_second']} | {r['seconds']} | {r['failures']} |"
                for n, r in scaling["by_processes"].items()
            ),
        ]
    check = result["shape_check"]
    lines += ["", "## Shape check (OrderSaga vs the bare same-shape mirror, events by type)", ""]
    lines.append(
        "matches"
        if check["matches"]
        else "DIFFERS: update services/bench/bare_same_shape.py to OrderSaga's shape"
    )
    if check["platform"] and check["bare_same_shape"]:
        types = sorted(set(check["platform"]) | set(check["bare_same_shape"]))
        lines += ["", "| event type | OrderSaga | bare same shape |", "|---|---|---|"]
        lines += [
            f"| {t} | {check['platform'].get(t, 0)} | {check['bare_same_shape'].get(t, 0)} |"
            for t in types
        ]
    if result.get("since_previous"):
        from services.bench.drift import drift_markdown

        lines += drift_markdown(result["since_previous"])
    return "\n".join(lines) + "\n"


def carry_cost(result: Mapping[str, Any], latest: Path) -> dict[str, Any]:
    """`result` with the `rtw bench cost` figures of the `latest.json` it replaces (the two
    commands measure different things; each keeps the other's latest figures)."""
    merged = dict(result)
    if not latest.exists():
        return merged
    previous = json.loads(latest.read_text(encoding="utf-8"))
    if "cost" in previous:
        merged["cost"] = previous["cost"]
        kept = {k: previous["ratios"][k] for k in COST_KEYS if k in previous.get("ratios", {})}
        merged["ratios"] = {**result["ratios"], **kept}
    return merged


def write_results(result: Mapping[str, Any], *, out_dir: Path, stem: str) -> tuple[Path, Path]:
    """`<stem>.json`, `<stem>.md` and `latest.json` under `out_dir` (keeping the cost
    figures `latest.json` had, and saying which ratios moved since its run)."""
    from services.bench.drift import moved_since

    out_dir.mkdir(parents=True, exist_ok=True)
    latest = out_dir / "latest.json"
    if latest.exists():
        previous = json.loads(latest.read_text(encoding="utf-8"))
        result = {**result, "since_previous": moved_since(previous, result)}
    clean = _clean(carry_cost(result, latest))
    text = json.dumps(clean, indent=2) + "\n"
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(text, encoding="utf-8")
    (out_dir / "latest.json").write_text(text, encoding="utf-8")
    md_path.write_text(markdown(result), encoding="utf-8")
    return json_path, md_path
