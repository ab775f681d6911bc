"""`rtw bench collector`: what a collector that does not answer costs. Two measurements,
each interleaved so that machine noise hits every variant alike:

- `rtw demo` end to end (fresh data directory and embedded server per run), with tracing
  off and with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a port where nothing listens;
- saga throughput and worker CPU in blocks on fresh servers and workers (`saga_blocks`):
  off, on (exporting to an in-process receiver) and unreachable.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.bench.off_on import compare, run_meta, write_report
from services.bench.receiver import OtlpReceiver
from services.bench.saga_blocks import EXPORT_DELAY_MS, BenchConfig, BlockResult, run_blocks
from services.runtime.devserver import free_port

#: The budget: an unreachable collector slows the demo and the workers by at most this.
MAX_SLOWDOWN = 0.10


@dataclass(frozen=True)
class DemoRun:
    """One `rtw demo`: its variant, exit code and wall time."""

    variant: str
    seconds: float
    code: int


async def _demo(variant: str, env: Mapping[str, str], work_dir: Path, index: int) -> DemoRun:
    data_dir = work_dir / f"demo-{index}-{variant}"
    command = [sys.executable, "-m", "services", "demo"]
    command += ["--port", str(free_port()), "--ui-port", str(free_port())]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TEMPORAL_"))}
    began = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *command,
        env={**clean, "RTW_DATA_DIR": str(data_dir), **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    code = await proc.wait()
    seconds = time.perf_counter() - began
    shutil.rmtree(data_dir, ignore_errors=True)
    return DemoRun(variant, round(seconds, 2), code)


def _demo_summary(runs: Sequence[DemoRun]) -> dict[str, Any]:
    medians = {
        v: round(statistics.median(r.seconds for r in runs if r.variant == v), 2)
        for v in ("off", "unreachable")
    }
    return {
        "off_seconds_median": medians["off"],
        "unreachable_seconds_median": medians["unreachable"],
        "slowdown_pct": round((medians["unreachable"] / medians["off"] - 1) * 100, 1),
        "failed_runs": sum(1 for r in runs if r.code != 0),
    }


def summarize(runs: Sequence[DemoRun], blocks: Sequence[BlockResult]) -> dict[str, Any]:
    """The demo's medians and slowdown; the saga blocks' medians, unreachable against off
    and against on; and whether both stay within `MAX_SLOWDOWN`."""
    summary: dict[str, Any] = {"demo": _demo_summary(runs)}
    summary |= compare(blocks, off="off", on="unreachable", cost="unreachable_vs_off")
    summary |= {
        k: v
        for k, v in compare(blocks, off="on", on="unreachable", cost="unreachable_vs_on").items()
        if k == "unreachable_vs_on" or k not in summary
    }
    worst = max(
        summary["demo"]["slowdown_pct"],
        -summary["unreachable_vs_off"]["throughput_change_pct"],
        summary["unreachable_vs_off"]["p50_latency_change_pct"],
    )
    summary["within_budget"] = worst <= MAX_SLOWDOWN * 100
    return summary


def _markdown(meta: Mapping[str, Any], summary: Mapping[str, Any]) -> str:
    demo = summary["demo"]
    lines = [
        "# An unreachable OTLP collector: what it costs",
        "",
        f"- when: {meta['started_at']}; machine: {meta['machine']} ({meta['cpus']} CPUs, "
        f"load average {meta['load_average']} at start)",
        f"- command: `{meta['command']}`",
        f"- unreachable: OTEL_EXPORTER_OTLP_ENDPOINT={meta['endpoint']} (nothing listens)",
        "",
        f"## `rtw demo`, {meta['demo_runs']} runs per variant, interleaved",
        "",
        "| variant | wall time median (s) |",
        "|---|---|",
        f"| tracing off | {demo['off_seconds_median']} |",
        f"| collector unreachable | {demo['unreachable_seconds_median']} |",
        "",
        f"Slowdown: {demo['slowdown_pct']:+}% (budget {MAX_SLOWDOWN * 100:g}%); "
        f"failed runs: {demo['failed_runs']}.",
        "",
        f"## Saga blocks: {meta['sagas']} sagas per block, concurrency {meta['concurrency']}, "
        f"batch export every {EXPORT_DELAY_MS} ms",
        "",
        "| variant | sagas/s (median) | worker CPU ms/saga | p50 latency ms |",
        "|---|---|---|---|",
    ]
    for variant in ("off", "on", "unreachable"):
        if variant in summary:
            s = summary[variant]
            lines.append(
                f"| {variant} | {s['sagas_per_second_median']} | {s['cpu_ms_per_saga_median']} "
                f"| {s['p50_latency_ms_median']} |"
            )
    for key, against in (("unreachable_vs_off", "off"), ("unreachable_vs_on", "on")):
        if key in summary:
            c = summary[key]
            lines.append(
                f"\nUnreachable against {against}: throughput {c['throughput_change_pct']:+}%, "
                f"worker CPU per saga {c['cpu_per_saga_change_pct']:+}%, "
                f"p50 latency {c['p50_latency_change_pct']:+}%."
            )
    lines.append(f"\nWithin the {MAX_SLOWDOWN * 100:g}% budget: {summary['within_budget']}.")
    return "\n".join(lines) + "\n"


async def run_collector_bench(
    config: BenchConfig, *, demo_runs: int, command: str
) -> tuple[Path, Path, dict[str, Any]]:
    """Run the demo and the saga blocks; write JSON and markdown; return paths and summary."""
    started = datetime.now(UTC)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    endpoint = f"http://127.0.0.1:{free_port()}"
    dead = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
    config.work_dir.mkdir(parents=True, exist_ok=True)
    runs: list[DemoRun] = []
    for index in range(demo_runs):
        for variant, env in (("off", {}), ("unreachable", dead)):
            runs.append(await _demo(variant, env, config.work_dir, index))
    variants = {
        "off": {},
        "on": {},
        "unreachable": {**dead, "OTEL_BSP_SCHEDULE_DELAY": str(EXPORT_DELAY_MS)},
    }
    async with OtlpReceiver(keep=False) as receiver:
        blocks = await run_blocks(config, variants, receiver=receiver)
    summary = summarize(runs, blocks)
    meta = {
        **run_meta(config, started=started, command=command),
        "endpoint": endpoint,
        "demo_runs": demo_runs,
        "load_average": load,
    }
    payload = {
        "meta": meta,
        "summary": summary,
        "demo_runs": [r.__dict__ for r in runs],
        "blocks": [b.record() for b in blocks],
    }
    json_path, md_path = write_report(
        config.out_dir,
        "collector",
        started=started,
        payload=payload,
        markdown=_markdown(meta, summary),
    )
    return json_path, md_path, summary
