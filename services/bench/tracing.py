"""`rtw bench tracing`: saga throughput and worker CPU per saga, tracing off vs on.

Each block runs on a fresh embedded dev server (tuned, fresh SQLite file) with fresh worker
processes; blocks alternate off/on so that drift (server database growth, machine noise)
hits both variants alike. Tracing exports over OTLP/gRPC to an in-process receiver.
Worker CPU is read from /proc/<pid>/stat (user + system time of the three workers).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import platform
import shutil
import statistics
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.bench.receiver import OtlpReceiver
from services.contracts import OrderInput, OrderState, TaskQueue
from services.orchestration.client import start_order
from services.runtime.config import TemporalSettings
from services.runtime.connection import connect
from services.runtime.devserver import DevServer, free_port
from services.runtime.local_stack import LocalStack

logger = logging.getLogger(__name__)

VARIANTS = ("off", "on")

#: Batch export interval in the "on" blocks (the SDK default is 5 s) and the pause both
#: variants get after the last saga before CPU is read, so that exporting is counted.
EXPORT_DELAY_MS = 500
SETTLE_SECONDS = 1.5


@dataclass(frozen=True)
class BenchConfig:
    """What to run."""

    sagas: int = 80
    blocks: int = 6
    concurrency: int = 16
    warmup: int = 10
    out_dir: Path = Path("bench/results")
    work_dir: Path = Path(".rtw/bench")
    keep_work_dir: bool = False


@dataclass
class BlockResult:
    """One block: one variant on a fresh server and fresh workers."""

    variant: str
    sagas: int
    seconds: float
    sagas_per_second: float
    worker_cpu_seconds: dict[str, float]
    cpu_ms_per_saga: float
    spans_exported: int
    failures: int = 0
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def p50_ms(self) -> float:
        """Median saga latency (start to result)."""
        return statistics.median(self.latencies_ms) if self.latencies_ms else 0.0


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of the full line
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def _worker_cpu(stack: LocalStack) -> dict[str, float]:
    cpu = {}
    for queue, worker in stack.workers.items():
        assert worker.process is not None
        cpu[queue.value] = process_cpu_seconds(worker.process.pid)
    return cpu


def _order(block: str, index: int) -> OrderInput:
    return OrderInput.model_validate(
        {
            "order_id": f"bench-{block}-{index}",
            "customer_id": "c-bench",
            "currency": "USD",
            "payment_method": "pm_card_visa",
            "items": [{"sku": "sku-1", "quantity": 1, "unit_price_cents": 1500}],
        }
    )


async def _run_sagas(
    address: str, block: str, first: int, count: int, concurrency: int
) -> tuple[list[float], int]:
    client = await connect(TemporalSettings(address=address))  # uninstrumented: workers only
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    failures = 0

    async def one(index: int) -> None:
        nonlocal failures
        async with gate:
            began = time.perf_counter()
            started = await start_order(
                client, _order(block, index), task_queue=TaskQueue.ORCHESTRATION.value
            )
            status = await started.handle.result()
            latencies.append((time.perf_counter() - began) * 1000)
            if status.state is not OrderState.COMPLETED:
                failures += 1

    await asyncio.gather(*(one(i) for i in range(first, first + count)))
    return latencies, failures


async def run_block(
    variant: str,
    index: int,
    config: BenchConfig,
    receiver: OtlpReceiver | None,
    *,
    extra_env: Mapping[str, str] | None = None,
) -> BlockResult:
    """Run `config.sagas` sagas with tracing `variant` ("off"/"on") on a fresh stack;
    `extra_env` goes to the workers (other benchmarks' variants)."""
    block = f"{index}-{variant}-{uuid.uuid4().hex[:6]}"
    block_dir = config.work_dir / block
    server = DevServer(data_dir=block_dir, port=free_port(), ui_port=None)
    env = {
        "RTW_DATA_DIR": str(block_dir),
        "RTW_LOG_LEVEL": "WARNING",
        "RTW_LOG_FORMAT": "json",
        **(extra_env or {}),
    }
    if variant == "on" and receiver is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "grpc"
        env["OTEL_BSP_SCHEDULE_DELAY"] = str(EXPORT_DELAY_MS)
    await server.start()
    stack = LocalStack(address=server.address, env=env, log_dir=block_dir / "logs")
    try:
        await stack.start()
        await _run_sagas(server.address, block, 0, config.warmup, config.concurrency)
        spans_before = receiver.span_count if receiver else 0
        cpu_before = _worker_cpu(stack)
        began = time.perf_counter()
        latencies, failures = await _run_sagas(
            server.address, block, config.warmup, config.sagas, config.concurrency
        )
        seconds = time.perf_counter() - began
        await asyncio.sleep(SETTLE_SECONDS)  # same for both variants: the last export runs
        cpu_after = _worker_cpu(stack)
        spans = (receiver.span_count if receiver else 0) - spans_before
    finally:
        await stack.stop()
        await server.stop()
    if not config.keep_work_dir:  # server database and worker logs: ~25 MB per block
        shutil.rmtree(block_dir, ignore_errors=True)
    cpu = {q: round(cpu_after[q] - cpu_before[q], 3) for q in cpu_after}
    return BlockResult(
        variant=variant,
        sagas=config.sagas,
        seconds=round(seconds, 3),
        sagas_per_second=round(config.sagas / seconds, 2),
        worker_cpu_seconds=cpu,
        cpu_ms_per_saga=round(sum(cpu.values()) / config.sagas * 1000, 3),
        spans_exported=spans,
        failures=failures,
        latencies_ms=latencies,
    )


def summarize(blocks: Sequence[BlockResult]) -> dict[str, Any]:
    """Per-variant medians over blocks and the relative cost of tracing."""
    summary: dict[str, Any] = {}
    for variant in VARIANTS:
        mine = [b for b in blocks if b.variant == variant]
        if not mine:
            continue
        summary[variant] = {
            "blocks": len(mine),
            "sagas_per_second_median": round(
                statistics.median(b.sagas_per_second for b in mine), 2
            ),
            "cpu_ms_per_saga_median": round(statistics.median(b.cpu_ms_per_saga for b in mine), 3),
            "p50_latency_ms_median": round(statistics.median(b.p50_ms for b in mine), 1),
            "spans_per_saga": round(statistics.median(b.spans_exported / b.sagas for b in mine), 1),
        }
    if "off" in summary and "on" in summary:
        off, on = summary["off"], summary["on"]
        summary["tracing_cost"] = {
            "throughput_change_pct": round(
                (on["sagas_per_second_median"] / off["sagas_per_second_median"] - 1) * 100, 1
            ),
            "cpu_per_saga_change_pct": round(
                (on["cpu_ms_per_saga_median"] / off["cpu_ms_per_saga_median"] - 1) * 100, 1
            ),
        }
    return summary


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
    blocks: list[BlockResult] = []
    async with OtlpReceiver(keep=False) as receiver:
        for index in range(config.blocks):
            variant = VARIANTS[index % 2]
            result = await run_block(variant, index, config, receiver)
            logger.warning(
                "block %s %-3s: %.1f sagas/s, %.2f CPU ms/saga, %s spans, %s failures",
                index,
                variant,
                result.sagas_per_second,
                result.cpu_ms_per_saga,
                result.spans_exported,
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
        "export_delay_ms": EXPORT_DELAY_MS,
        "settle_seconds": SETTLE_SECONDS,
    }
    config.out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"tracing-{started.strftime('%Y%m%dT%H%M%SZ')}"
    json_path = config.out_dir / f"{stem}.json"
    md_path = config.out_dir / f"{stem}.md"
    payload = {
        "meta": meta,
        "summary": summary,
        "blocks": [
            {
                **{k: v for k, v in asdict(b).items() if k != "latencies_ms"},
                "p50_ms": round(b.p50_ms, 1),
            }
            for b in blocks
        ],
    }
    json_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(_markdown(meta, summary, blocks), encoding="utf-8")
    return json_path, md_path, summary
