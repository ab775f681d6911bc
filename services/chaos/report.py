"""Write a chaos report as JSON and markdown (`bench/results/chaos-<profile>-<time>.*`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from services.chaos.run import ChaosReport

#: Verdict lines: figure, value getter.
_ROWS = (
    ("sagas started", lambda r: r.started),
    ("completed", lambda r: r.by_state.get("completed", 0)),
    ("compensated", lambda r: r.by_state.get("compensated", 0)),
    ("rejected", lambda r: r.by_state.get("rejected", 0)),
    (
        "cancelled (of cancels sent) / with money or stock left",
        lambda r: (
            f"{r.by_state.get('cancelled', 0)} (of {r.cancels_requested}) / "
            f"{len(r.cancelled_unsettled)}"
        ),
    ),
    ("lost (open after the deadline)", lambda r: len(r.lost)),
    ("double charges", lambda r: len(r.double_charges)),
    ("orphaned charges", lambda r: len(r.orphaned_charges)),
    ("captured above the order total", lambda r: len(r.over_captured)),
    ("unexpected failures (not injected)", lambda r: len(r.unexpected_failures)),
    ("unexpected worker exits", lambda r: len(r.unexpected_exits)),
    ("sku-limited reserved of 5 (oversold?)", lambda r: f"{r.limited_reserved} ({r.oversold})"),
    ("duplicate outbox rows", lambda r: r.duplicate_outbox_rows),
    (
        "order events checked / with a gap, a repeat or a wrong last event",
        lambda r: f"{r.events_checked} / {len(r.event_problems)}",
    ),
    (
        "hostile inputs refused as expected",
        lambda r: f"{sum(h['ok'] for h in r.hostile)}/{len(r.hostile)}",
    ),
    ("payment steps retried after a fault", lambda r: r.retried_payment_steps),
    ("max recovery after a kill (s)", lambda r: r.max_recovery_seconds),
    ("workflow task timeouts", lambda r: r.workflow_task_timeouts),
    ("worker restarts", lambda r: r.worker_restarts),
    ("duration (s)", lambda r: r.duration_seconds),
)


def markdown(report: ChaosReport, *, command: str) -> str:
    """A human summary: verdict, figures, faults, hostile probes."""
    lines = [
        f"# rtw chaos — profile `{report.profile}`: {'PASS' if report.ok else 'FAIL'}",
        "",
        f"`{command}` on {report.machine['cpus']} CPUs, Python {report.machine['python']}, "
        f"{report.machine['platform']}; {report.config['orchestration']} orchestration + "
        f"{report.config['payments']} payments + {report.config['notifications']} "
        "notifications worker processes on one PostgreSQL and one dev server.",
        "",
        "| figure | value |",
        "|---|---|",
        *(f"| {name} | {get(report)} |" for name, get in _ROWS),
        "",
        "Recovery by fault (longest retried payment step, seconds): "
        + ", ".join(f"{k} {v}" for k, v in sorted(report.recovery_by_fault.items()))
        or "none",
        "",
        "## Faults",
        "",
        *(f"- {f.at:>6.1f} s — {f.what}" for f in report.faults),
    ]
    if report.hostile:
        lines += [
            "",
            "## Hostile input",
            "",
            "| input | expected | got | ok |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {h['name']} | {h['expected']} | {h['got']} | {'yes' if h['ok'] else 'NO'} |"
            for h in report.hostile
        ]
    problems = [
        *report.lost,
        *report.double_charges,
        *report.orphaned_charges,
        *report.over_captured,
        *report.cancelled_unsettled,
        *report.unexpected_failures,
        *report.unexpected_exits,
        *report.confirmations_missing,
        *report.event_problems,
    ]
    if problems:
        lines += ["", "## Problems", "", *(f"- {p}" for p in problems[:100])]
    return "\n".join(lines) + "\n"


def write_report(report: ChaosReport, *, out_dir: Path, command: str) -> tuple[Path, Path]:
    """Write `chaos-<profile>-<UTC time>.json` and `.md`; return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"chaos-{report.profile}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    payload = {"command": command, **report.as_dict()}
    json_path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    md_path.write_text(markdown(report, command=command), encoding="utf-8")
    return json_path, md_path
