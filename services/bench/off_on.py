"""What an off-vs-on benchmark reports: per-variant medians over its blocks, the relative
change of the "on" variant against the "off" one, and the JSON and markdown files."""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from services.bench.saga_blocks import BenchConfig, BlockResult

#: Relative changes an off/on comparison can report → the per-variant median each compares.
CHANGES: dict[str, str] = {
    "throughput_change_pct": "sagas_per_second_median",
    "cpu_per_saga_change_pct": "cpu_ms_per_saga_median",
    "p50_latency_change_pct": "p50_latency_ms_median",
}

Figures = Callable[[Sequence[BlockResult]], Mapping[str, Any]]


def failures(blocks: Sequence[BlockResult]) -> dict[str, Any]:
    """Failed sagas over a variant's blocks (the default `figures` of `compare`)."""
    return {"failures": sum(b.failures for b in blocks)}


def medians(blocks: Sequence[BlockResult]) -> dict[str, Any]:
    """Median throughput, worker CPU per saga and p50 latency over one variant's blocks."""
    return {
        "blocks": len(blocks),
        "sagas_per_second_median": round(statistics.median(b.sagas_per_second for b in blocks), 2),
        "cpu_ms_per_saga_median": round(statistics.median(b.cpu_ms_per_saga for b in blocks), 3),
        "p50_latency_ms_median": round(statistics.median(b.p50_ms for b in blocks), 1),
    }


def compare(
    blocks: Sequence[BlockResult],
    *,
    off: str,
    on: str,
    cost: str,
    figures: Figures = failures,
    changes: Sequence[str] = tuple(CHANGES),
) -> dict[str, Any]:
    """Per-variant medians (plus `figures`) and, under `cost`, the change of `on` against `off`.

    Args:
        blocks: every block of the run, both variants.
        off: the baseline variant's name.
        on: the measured variant's name.
        cost: the key of the relative changes (present when both variants ran).
        figures: more per-variant figures, from that variant's blocks.
        changes: which keys of `CHANGES` to report, in percent (rounded to 0.1).
    """
    summary: dict[str, Any] = {}
    for variant in (off, on):
        mine = [b for b in blocks if b.variant == variant]
        if mine:
            summary[variant] = {**medians(mine), **figures(mine)}
    if off in summary and on in summary:
        before, after = summary[off], summary[on]
        summary[cost] = {
            key: round((after[CHANGES[key]] / before[CHANGES[key]] - 1) * 100, 1) for key in changes
        }
    return summary


def run_meta(config: BenchConfig, *, started: datetime, command: str) -> dict[str, Any]:
    """When, where and how big: the `meta` every off/on report opens with."""
    return {
        "started_at": started.isoformat(timespec="seconds"),
        "command": command,
        "machine": f"{platform.system()} {platform.machine()} Python {platform.python_version()}",
        "cpus": os.cpu_count(),
        "sagas": config.sagas,
        "warmup": config.warmup,
        "concurrency": config.concurrency,
    }


def write_report(
    out_dir: Path, name: str, *, started: datetime, payload: Mapping[str, Any], markdown: str
) -> tuple[Path, Path]:
    """`<name>-<time>.json` and `.md` under `out_dir`; their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{started.strftime('%Y%m%dT%H%M%SZ')}"
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown, encoding="utf-8")
    return json_path, md_path
