"""`rtw bench versioning`: saga throughput and worker CPU per saga, Worker Versioning off vs on.

Same blocks as `rtw bench tracing` (fresh dev server and worker processes per block,
interleaved variants), tracing off in both; "on" workers join a Worker Deployment and make
their build current at start.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.bench.off_on import compare, run_meta, write_report
from services.bench.saga_blocks import BenchConfig, BlockResult, run_blocks

#: Worker environment of each variant.
VARIANTS: dict[str, dict[str, str]] = {
    "unversioned": {"RTW_WORKER_VERSIONING": "false"},
    "versioned": {"RTW_WORKER_VERSIONING": "true", "RTW_PROMOTE_ON_START": "always"},
}


def summarize(blocks: Sequence[BlockResult]) -> dict[str, Any]:
    """Per-variant medians over blocks and the relative cost of versioning."""
    return compare(blocks, off="unversioned", on="versioned", cost="versioning_cost")


def _markdown(meta: dict[str, Any], summary: dict[str, Any], blocks: Sequence[BlockResult]) -> str:
    lines = [
        "# Worker Versioning on vs off",
        "",
        f"- when: {meta['started_at']}; machine: {meta['machine']} ({meta['cpus']} CPUs)",
        f"- command: `{meta['command']}`",
        f"- {meta['sagas']} sagas per block after {meta['warmup']} warm-up sagas, concurrency "
        f"{meta['concurrency']}, {len(blocks)} interleaved blocks, each on a fresh dev server "
        "and fresh worker processes; tracing off",
        "",
        "| variant | sagas/s (median) | worker CPU ms/saga (median) | p50 latency ms | failures |",
        "|---|---|---|---|---|",
    ]
    for variant in VARIANTS:
        s = summary[variant]
        lines.append(
            f"| {variant} | {s['sagas_per_second_median']} | {s['cpu_ms_per_saga_median']} | "
            f"{s['p50_latency_ms_median']} | {s['failures']} |"
        )
    cost = summary["versioning_cost"]
    lines += [
        "",
        f"Versioning on: throughput {cost['throughput_change_pct']:+}%, worker CPU per saga "
        f"{cost['cpu_per_saga_change_pct']:+}%, p50 latency {cost['p50_latency_change_pct']:+}%.",
        "",
        "| # | variant | sagas/s | CPU ms/saga | p50 ms |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {i} | {b.variant} | {b.sagas_per_second} | {b.cpu_ms_per_saga} | {b.p50_ms:.1f} |"
        for i, b in enumerate(blocks)
    ]
    return "\n".join(lines) + "\n"


async def run_versioning_bench(
    config: BenchConfig, *, command: str
) -> tuple[Path, Path, dict[str, Any]]:
    """Run interleaved unversioned/versioned blocks; write JSON and markdown."""
    started = datetime.now(UTC)
    blocks = await run_blocks(config, VARIANTS)
    summary = summarize(blocks)
    meta = run_meta(config, started=started, command=command)
    payload = {"meta": meta, "summary": summary, "blocks": [b.record() for b in blocks]}
    json_path, md_path = write_report(
        config.out_dir,
        "versioning",
        started=started,
        payload=payload,
        markdown=_markdown(meta, summary, blocks),
    )
    return json_path, md_path, summary
