"""Blocks of rtw sagas for the off-vs-on benchmarks (`rtw bench tracing|codec|versioning`).

Each block runs on a fresh embedded dev server (tuned, fresh SQLite file) with fresh
`rtw worker` processes; blocks alternate between the variants so that drift (server database
growth, machine noise) hits every variant alike. Worker CPU is read from /proc.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import statistics
import time
import uuid
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from services.bench.procstat import cpu_seconds
from services.bench.receiver import OtlpReceiver
from services.contracts import OrderInput, OrderState, TaskQueue
from services.orchestration.client import start_order
from services.runtime.codec import KEYS_FILE_VARIABLE
from services.runtime.config import CodecSettings, TemporalSettings
from services.runtime.connection import connect
from services.runtime.devserver import DevServer, free_port
from services.runtime.local_stack import LocalStack

logger = logging.getLogger(__name__)

#: Batch export interval in traced blocks (the SDK default is 5 s) and the pause every block
#: gets after the last saga before CPU is read, so that exporting is counted.
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

    def record(self, *, without: Collection[str] = ()) -> dict[str, Any]:
        """The block as JSON: its fields (less `without`) and p50, without the samples."""
        fields = asdict(self)
        return {
            **{k: v for k, v in fields.items() if k != "latencies_ms" and k not in without},
            "p50_ms": round(self.p50_ms, 1),
        }


def _worker_cpu(stack: LocalStack) -> dict[str, float]:
    cpu = {}
    for queue, worker in stack.workers.items():
        assert worker.process is not None
        cpu[queue.value] = cpu_seconds(worker.process.pid)
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
    settings: TemporalSettings, block: str, first: int, count: int, concurrency: int
) -> tuple[list[float], int]:
    client = await connect(settings)  # uninstrumented: the workers' tracing cost only
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


def driver_settings(address: str, env: Mapping[str, str]) -> TemporalSettings:
    """The sagas' client settings: with `RTW_CODEC_KEYS_FILE` in the workers' environment,
    the client encrypts with the same keys (it starts the sagas and reads their results)."""
    keys_file = env.get(KEYS_FILE_VARIABLE)
    return TemporalSettings(
        address=address, codec=CodecSettings(keys_file=Path(keys_file) if keys_file else None)
    )


async def run_block(
    variant: str,
    index: int,
    config: BenchConfig,
    receiver: OtlpReceiver | None,
    *,
    extra_env: Mapping[str, str] | None = None,
) -> BlockResult:
    """Run `config.sagas` sagas of `variant` on a fresh stack.

    Args:
        variant: the block's variant; "on" with a `receiver` exports spans to it.
        index: the block's number (part of its saga ids).
        config: sizes and directories.
        receiver: the OTLP receiver of the tracing benchmark; None: no tracing.
        extra_env: the workers' extra environment (other benchmarks' variants); a codec keys
            file in it encrypts the sagas' client too.
    """
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
    settings = driver_settings(server.address, env)
    stack = LocalStack(address=server.address, env=env, log_dir=block_dir / "logs")
    try:
        await stack.start()
        await _run_sagas(settings, block, 0, config.warmup, config.concurrency)
        spans_before = receiver.span_count if receiver else 0
        cpu_before = _worker_cpu(stack)
        began = time.perf_counter()
        latencies, failures = await _run_sagas(
            settings, block, config.warmup, config.sagas, config.concurrency
        )
        seconds = time.perf_counter() - began
        await asyncio.sleep(SETTLE_SECONDS)  # same for every variant: the last export runs
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


async def run_blocks(
    config: BenchConfig,
    variants: Mapping[str, Mapping[str, str]],
    *,
    receiver: OtlpReceiver | None = None,
) -> list[BlockResult]:
    """`config.blocks` blocks, taking `variants` (name → workers' extra environment) in turn."""
    names = list(variants)
    blocks: list[BlockResult] = []
    for index in range(config.blocks):
        variant = names[index % len(names)]
        result = await run_block(variant, index, config, receiver, extra_env=variants[variant])
        logger.warning(
            "block %s %-11s: %.1f sagas/s, %.2f CPU ms/saga, p50 %.1f ms, %s spans, %s failures",
            index,
            variant,
            result.sagas_per_second,
            result.cpu_ms_per_saga,
            result.p50_ms,
            result.spans_exported,
            result.failures,
        )
        blocks.append(result)
    return blocks
