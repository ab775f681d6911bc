"""`rtw bench run`: every variant in interleaved blocks, each block on a fresh tuned dev
server, with per-process CPU (raw and speed-normalised), latency, history size, cold start
and memory; then the idle `approve` round trip and payments-bound scaling."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client

from services.bench.approvals import approve_round_trips
from services.bench.calibration import Calibrator
from services.bench.driver import Batch, Driver
from services.bench.processes import ProcessSpec, WorkerSet, bare_spec, platform_spec
from services.bench.procstat import cpu_seconds
from services.bench.profiles import Profile
from services.bench.receiver import OtlpReceiver
from services.bench.saga_blocks import EXPORT_DELAY_MS
from services.bench.stats import percentile
from services.bench.variants import PLATFORM, Variant
from services.runtime.codec import KEYS_FILE_VARIABLE
from services.runtime.config import CodecSettings, TemporalSettings
from services.runtime.connection import connect
from services.runtime.devserver import DevServer, free_port
from services.runtime.keyfiles import add_key

logger = logging.getLogger(__name__)

#: Pause after the last measured saga before CPU is read. Measured: 0.3 s after the last
#: saga no process used more than /proc's 10 ms resolution, except a traced one, whose last
#: batch of spans is exported up to EXPORT_DELAY_MS later.
SETTLE_SECONDS = 0.3
TRACED_SETTLE_SECONDS = EXPORT_DELAY_MS / 1000 + 0.1

Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class BlockContext:
    """What every variant of one block shares: the server, clients, receiver, paths."""

    index: int
    server: DevServer
    bare: Client
    platform: Client
    receiver: OtlpReceiver
    work_dir: Path
    profile: Profile


def _codec_keys(ctx: BlockContext) -> Path:
    """The block's payload keys file (one fresh key, made on first use) of encrypted variants."""
    keys = ctx.work_dir / "codec-keys.json"
    if not keys.exists():
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        add_key(keys, "bench-1", activate=True)
    return keys


async def _platform_client(variant: Variant, ctx: BlockContext) -> Client:
    """The client that drives a platform variant: the block's, or for an encrypted variant
    one that encrypts with the workers' keys (it starts the sagas and reads their results)."""
    if not variant.encrypted:
        return ctx.platform
    codec = CodecSettings(keys_file=_codec_keys(ctx))
    return await connect(TemporalSettings(address=ctx.server.address, codec=codec))


def _specs(variant: Variant, ctx: BlockContext, prefix: str) -> list[ProcessSpec]:
    address = ctx.server.address
    if not variant.platform:
        return [bare_spec(role, prefix=prefix, address=address) for role in variant.roles]
    env = {
        "TEMPORAL_ADDRESS": address,
        "RTW_DATA_DIR": str(ctx.work_dir / variant.name),
        "RTW_LOG_LEVEL": "WARNING",
        "RTW_LOG_FORMAT": "json",
        "RTW_GRACEFUL_SHUTDOWN_SECONDS": "5",
        **variant.env,
    }
    if variant.tracing:
        env |= {
            "OTEL_EXPORTER_OTLP_ENDPOINT": ctx.receiver.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_BSP_SCHEDULE_DELAY": str(EXPORT_DELAY_MS),
        }
    if variant.encrypted:
        env[KEYS_FILE_VARIABLE] = str(_codec_keys(ctx))
    return [platform_spec(role, prefix=prefix, env=env) for role in variant.roles]


def _cpu_snapshot(workers: WorkerSet, server_pid: int) -> dict[str, float]:
    return {
        "server": cpu_seconds(server_pid),
        **workers.cpu(),
        "driver": cpu_seconds(os.getpid()),
    }


def _latency(batch: Batch, name: str) -> dict[str, float]:
    return {
        f"p50_{name}_ms": round(percentile(batch.latencies_ms, 50), 1),
        f"p95_{name}_ms": round(percentile(batch.latencies_ms, 95), 1),
    }


def runs_c64(variant: Variant, profile: Profile) -> bool:
    """Whether this variant has a c64 phase in this profile."""
    return 64 in variant.phases and (profile.floors_c64 or not variant.floor)


async def run_variant(variant: Variant, ctx: BlockContext) -> dict[str, Any]:
    """Start the variant's workers, warm up, run its phases; its figures for this block."""
    profile = ctx.profile
    prefix = f"b{ctx.index}-{variant.name.replace('_', '-')}-"
    driver = Driver(
        variant,
        prefix=prefix,
        tag=f"b{ctx.index}-{variant.name}",
        bare=ctx.bare,
        platform=await _platform_client(variant, ctx),
    )
    assert ctx.server.pid is not None
    log_dir = ctx.work_dir / "logs" / variant.name
    record: dict[str, Any] = {}
    async with WorkerSet(ctx.bare, _specs(variant, ctx, prefix), log_dir=log_dir) as workers:
        failures = (await driver.batch(0, profile.warmup, 16)).failures
        index = profile.warmup
        c1 = await driver.batch(index, profile.c1, 1)
        first_measured, index = index, index + profile.c1
        before = _cpu_snapshot(workers, ctx.server.pid)
        with Calibrator() as calibration:
            c16 = await driver.batch(index, profile.c16, 16)
            index += profile.c16
            c64 = Batch()
            if runs_c64(variant, profile):
                c64 = await driver.batch(index, profile.c64, 64)
            await asyncio.sleep(TRACED_SETTLE_SECONDS if variant.tracing else SETTLE_SECONDS)
        after = _cpu_snapshot(workers, ctx.server.pid)
        after["driver"] -= calibration.cpu_seconds
        sagas = len(c16.latencies_ms) + len(c64.latencies_ms) + c16.failures + c64.failures
        failures += c1.failures + c16.failures + c64.failures
        event_types = await driver.event_types(first_measured)
        rss = workers.peak_rss()
        cold = workers.cold_starts()
        cold_cpu = workers.cold_start_cpu()
        if variant == PLATFORM and profile.approvals:
            record["approve_ms"] = await approve_round_trips(
                ctx.platform,
                queue=prefix + "orchestration",
                tag=f"b{ctx.index}",
                count=profile.approvals,
            )
    loop_ms = calibration.loop_ms
    cpu_ms = {k: (after[k] - before[k]) * 1000 / max(sagas, 1) for k in after}
    worker_ms = sum(v for k, v in cpu_ms.items() if k not in ("server", "driver"))
    record["figures"] = {
        "throughput_c16": round(c16.per_second, 2),
        **({"throughput_c64": round(c64.per_second, 2)} if runs_c64(variant, profile) else {}),
        **_latency(c1, "c1"),
        **_latency(c16, "c16"),
        "cpu_ms_per_saga": {k: round(v, 2) for k, v in cpu_ms.items()},
        "cpu_norm_per_saga": {k: round(v / loop_ms, 3) for k, v in cpu_ms.items()},
        "worker_cpu_ms_per_saga": round(worker_ms, 2),
        "worker_cpu_norm_per_saga": round(worker_ms / loop_ms, 3),
        "events_per_saga": sum(event_types.values()),
        "cold_start_s": cold,
        "cold_start_s_max": max(cold.values()),
        "cold_start_cpu_s": cold_cpu,
        "cold_start_cpu_s_max": max(cold_cpu.values()),
        "rss_mb": rss,
        "rss_mb_max": max(rss.values()),
        "calibration_loop_ms": round(loop_ms, 3),
        "failures": failures,
    }
    record["event_types"] = event_types
    return record


async def run_block(
    index: int,
    variants: Sequence[Variant],
    *,
    profile: Profile,
    work_dir: Path,
    receiver: OtlpReceiver,
    progress: Progress,
    keep_work_dir: bool = False,
) -> dict[str, Any]:
    """One block: a fresh server, every variant once, in an order rotated by `index`."""
    shift = index % len(variants)
    order = [*variants[shift:], *variants[:shift]]
    block_dir = work_dir / f"block-{index}-{int(time.time())}"
    server = DevServer(data_dir=block_dir, port=free_port(), ui_port=None)
    await server.start()
    block: dict[str, Any] = {
        "block": index,
        "order": [v.name for v in order],
        "variants": {},
        "event_types": {},
    }
    try:
        bare = await Client.connect(server.address)
        platform = await connect(TemporalSettings(address=server.address))
        ctx = BlockContext(
            index=index,
            server=server,
            bare=bare,
            platform=platform,
            receiver=receiver,
            work_dir=block_dir,
            profile=profile,
        )
        for variant in order:
            progress(f"block {index + 1}/{profile.blocks}: {variant.name}")
            record = await run_variant(variant, ctx)
            block["variants"][variant.name] = record["figures"]
            block["event_types"][variant.name] = record["event_types"]
            if "approve_ms" in record:
                block["approve_ms"] = [round(x, 2) for x in record["approve_ms"]]
    finally:
        await server.stop()
        if not keep_work_dir:
            shutil.rmtree(block_dir, ignore_errors=True)
    return block
