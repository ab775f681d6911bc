"""`rtw bench tracing`: saga throughput and worker CPU per saga, tracing off vs on.

Interleaved blocks on fresh servers and workers (`services.bench.saga_blocks`); tracing
exports over OTLP/gRPC to an in-process receiver. The client starting the sagas is
uninstrumented, so the cost measured is the workers'.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.bench.off_on import compare, run_meta, write_report
from services.bench.receiver import OtlpReceiver
from services.bench.saga_blocks import (
    EXPORT_DELAY_MS,
    SETTLE_SECONDS,
    BenchConfig,
    BlockResult,
    run_blocks,
)
from services.contracts import TaskQueue

VARIANTS = ("off", "on")


def _spans_per_saga(blocks: Sequence[BlockResult]) -> dict[str, Any]:
    return {
        "spans_per_saga": round(statistics.median(b.spans_exported / b.sagas for b in blocks), 1)
    }


def summarize(blocks: Sequence[BlockResult]) -> dict[str, Any]:
    """Per-variant medians over blocks and the relative cost of tracing."""
    return compare(
        blocks,
        off="off",
        on="on",
        cost="tracing_cost",
        figures=_spans_per_saga,
        changes=("throughput_change_pct", "cpu_per_saga_change_pct"),
    )


def _markdown(
    meta: Mapping[str, Any], summary: Mapping[str, Any], blocks: Sequence[BlockResult]
) -> str:
    lines = [
        "# Tracing on vs off",
        "",
        f"- when: {meta['started_at']}; machine: {meta['machine']} ({meta['cpus']} CPUs)",
        f"- command: `{meta['command']}`",
        f"- {meta['sagas']} sagas per block after {meta['warmup']} warm-up sagas, "
        f"concurrency {meta['concurrency']}, {len(blocks)} interleaved blocks, each on a fresh "
        "dev server and fresh worker processes; client uninstrumented (worker cost only)",
        f"- tracing on: OTLP/gRPC to an in-process receiver, batch export every "
        f"{meta['export_delay_ms']} ms; CPU is read {meta['settle_seconds']} s after the last "
        "saga in both variants, so the last export is counted",
        "",
        "| variant | sagas/s (median) | worker CPU ms/saga (median) | p50 latency ms "
        "| spans/saga |",
        "|---|---|---|---|---|",
    ]
    for variant in VARIANTS:
        if variant in summary:
            s = summary[variant]
            lines.append(
                f"| {variant} | {s['sagas_per_second_median']} | {s['cpu_ms_per_saga_median']} | "
                f"{s['p50_latency_ms_median']} | {s['spans_per_saga']} |"
            )
    if "tracing_cost" in summary:
        cost = summary["tracing_cost"]
        lines += [
            "",
            f"Tracing on: throughput {cost['throughput_change_pct']:+}%, "
            f"worker CPU per saga {cost['cpu_per_saga_change_pct']:+}%.",
        ]
    lines += [
        "",
        "## Blocks",
        "",
        "| # | variant | sagas/s | CPU ms/saga "
        "| orchestration / payments / notifications CPU s | failures |",
        "|---|---|---|---|---|---|",
    ]
    for i, b in enumerate(blocks):
        cpu = " / ".join(str(b.worker_cpu_seconds.get(q.value, 0)) for q in TaskQueue)
        lines.append(
            f"| {i} | {b.variant} | {b.sagas_per_second} | {b.cpu_ms_per_saga} | {cpu} "
            f"| {b.failures} |"
        )
    return "\n".join(lines) + "\n"


async def run_tracing_bench(
    config: BenchConfig, *, command: str
) -> tuple[Path, Path, dict[str, Any]]:
    """Run interleaved off/on blocks; write JSON and markdown; return their paths and summary."""
    started = datetime.now(UTC)
    async with OtlpReceiver(keep=False) as receiver:
        blocks = await run_blocks(config, {"off": {}, "on": {}}, receiver=receiver)
    summary = summarize(blocks)
    meta = {
        **run_meta(config, started=started, command=command),
        "export_delay_ms": EXPORT_DELAY_MS,
        "settle_seconds": SETTLE_SECONDS,
    }
    payload = {"meta": meta, "summary": summary, "blocks": [b.record() for b in blocks]}
    json_path, md_path = write_report(
        config.out_dir,
        "tracing",
        started=started,
        payload=payload,
        markdown=_markdown(meta, summary, blocks),
    )
    return json_path, md_path, summary
