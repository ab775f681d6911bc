"""`rtw bench versioning`: saga throughput and worker CPU per saga, Worker Versioning off vs on.

Same blocks as `rtw bench tracing` (fresh dev server and worker processes per block,
interleaved variants), tracing off in both; "on" workers join a Worker Deployment and make
their build current at start.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.bench.tracing import BenchConfig, BlockResult, run_block

logger = logging.getLogger(__name__)

#: Worker environment of each variant.
VARIANTS: dict[str, dict[str, str]] = {
    "unversioned": {"RTW_WORKER_VERSIONING": "false"},
    "versioned": {"RTW_WORKER_VERSIONING": "true", "RTW_PROMOTE_ON_START": "always"},
}


def summarize(blocks: Sequence[BlockResult]) -> dict[str, Any]:
    """Per-variant medians over blocks and the relative cost of versioning."""
    summary: dict[str, Any] = {}
    for variant in VARIANTS:
        mine = [b for b in blocks if b.variant == variant]
        summary[variant] = {
            "blocks": len(mine),
            "sagas_per_second_median": round(
                statistics.median(b.sagas_per_second for b in mine), 2
            ),
            "cpu_ms_per_saga_median": round(statistics.median(b.cpu_ms_per_saga for b in mine), 3),
            "p50_latency_ms_median": round(statistics.median(b.p50_ms for b in mine), 1),
            "failures": sum(b.failures for b in mine),
        }
    off, on = summary["unversioned"], summary["versioned"]
    summary["versioning_cost"] = {
        "throughput_change_pct": round(
            (on["sagas_per_second_median"] / off["sagas_per_second_median"] - 1) * 100, 1
        ),
        "cpu_per_saga_change_pct": round(
            (on["cpu_ms_per_saga_median"] / off["cpu_ms_per_saga_median"] - 1) * 100, 1
        ),
        "p50_latency_change_pct": round(
            (on["p50_latency_ms_median"] / off["p50_latency_ms_median"] - 1) * 100, 1
        ),
    }
    return summary


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
    names = list(VARIANTS)
    blocks: list[BlockResult] = []
    for index in range(config.blocks):
        variant = names[index % 2]
        result = await run_block(variant, index, config, None, extra_env=VARIANTS[variant])
        logger.warning(
            "block %s %-11s: %.1f sagas/s, %.2f CPU ms/saga, p50 %.1f ms, %s failures",
            index,
            variant,
            result.sagas_per_second,
            result.cpu_ms_per_saga,
            result.p50_ms,
            result.failures,
        )
        blocks.append(result)
    summary = summarize(blocks)
    meta = {
        "started_at": started.isoformat(timespec="seconds"),
        "command": command,
        "machine": f"{platform.system()} {platform.machine()} Python {platform.python_version()}",
        "cpus": os.cpu_count(),
        "sagas": config.sagas,
        "warmup": config.warmup,
        "concurrency": config.concurrency,
    }
    config.out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"versioning-{started.strftime('%Y%m%dT%H%M%SZ')}"
    json_path = config.out_dir / f"{stem}.json"
    md_path = config.out_dir / f"{stem}.md"
    payload = {
        "meta": meta,
        "summary": summary,
        "blocks": [
            {**{k: v for k, v in asdict(b).items() if k != "latencies_ms"}, "p50_ms": b.p50_ms}
            for b in blocks
        ],
    }
    json_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(_markdown(meta, summary, blocks), encoding="utf-8")
    return json_path, md_path, summary
