"""`rtw bench codec`: what payload encryption costs, measured in one run.

Two measurements: the codec alone (encode + decode of a typical order payload, in process),
and whole sagas with encryption off vs on, in interleaved blocks, each on a fresh dev server
with fresh worker processes (the client starting the sagas encrypts too). Worker CPU comes
from /proc/<pid>/stat. Modules are byte-compiled first, so neither variant pays for it.
"""

from __future__ import annotations

import asyncio
import compileall
import json
import os
import platform
import shutil
import statistics
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.converter import DataConverter

from services.bench.tracing import process_cpu_seconds
from services.contracts import OrderInput, OrderState, TaskQueue
from services.orchestration.client import start_order
from services.runtime.codec import EncryptionCodec, KeyRing
from services.runtime.config import CodecSettings, TemporalSettings
from services.runtime.connection import connect
from services.runtime.devserver import DevServer, free_port
from services.runtime.keyfiles import add_key
from services.runtime.local_stack import LocalStack

VARIANTS = ("off", "on")
SERVICES_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class CodecBenchConfig:
    """What to run."""

    sagas: int = 60
    blocks: int = 4
    concurrency: int = 16
    warmup: int = 10
    codec_rounds: int = 2000
    out_dir: Path = Path("bench/results")
    work_dir: Path = Path(".rtw/bench-codec")


@dataclass
class Block:
    """One block of sagas with encryption off or on."""

    variant: str
    sagas: int
    seconds: float
    sagas_per_second: float
    cpu_ms_per_saga: float
    failures: int
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def p50_ms(self) -> float:
        """Median saga latency."""
        return statistics.median(self.latencies_ms) if self.latencies_ms else 0.0


def order(block: str, index: int) -> OrderInput:
    """A representative order (two lines, a customer and a payment method)."""
    return OrderInput.model_validate(
        {
            "order_id": f"bc-{block}-{index}",
            "customer_id": "c-bench-0001",
            "currency": "USD",
            "payment_method": "pm_card_visa",
            "items": [
                {"sku": "sku-1", "quantity": 2, "unit_price_cents": 1500},
                {"sku": "sku-2", "quantity": 1, "unit_price_cents": 990},
            ],
        }
    )


async def measure_codec(rounds: int) -> dict[str, float]:
    """Microseconds to encrypt and to decrypt one order payload, and the size overhead."""
    codec = EncryptionCodec(KeyRing(active="k1", keys={"k1": os.urandom(32)}))
    [payload] = await DataConverter.default.encode([order("codec", 0).model_dump(mode="json")])
    began = time.perf_counter()
    for _ in range(rounds):
        sealed = await codec.encode([payload])
    encode_us = (time.perf_counter() - began) / rounds * 1e6
    began = time.perf_counter()
    for _ in range(rounds):
        await codec.decode(sealed)
    decode_us = (time.perf_counter() - began) / rounds * 1e6
    return {
        "encode_us_per_payload": round(encode_us, 2),
        "decode_us_per_payload": round(decode_us, 2),
        "plain_bytes": payload.ByteSize(),
        "encrypted_bytes": sealed[0].ByteSize(),
    }


async def _sagas(
    settings: TemporalSettings, block: str, first: int, count: int, concurrency: int
) -> tuple[list[float], int]:
    client = await connect(settings)
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    failures = 0

    async def one(index: int) -> None:
        nonlocal failures
        async with gate:
            began = time.perf_counter()
            started = await start_order(
                client, order(block, index), task_queue=TaskQueue.ORCHESTRATION.value
            )
            status = await started.handle.result()
            latencies.append((time.perf_counter() - began) * 1000)
            failures += status.state is not OrderState.COMPLETED

    await asyncio.gather(*(one(i) for i in range(first, first + count)))
    return latencies, failures


async def run_block(variant: str, index: int, config: CodecBenchConfig) -> Block:
    """`config.sagas` sagas with encryption `variant` on a fresh server and fresh workers."""
    block = f"{index}-{variant}-{uuid.uuid4().hex[:6]}"
    block_dir = config.work_dir / block
    block_dir.mkdir(parents=True, exist_ok=True)
    env = {"RTW_DATA_DIR": str(block_dir), "RTW_LOG_LEVEL": "WARNING", "RTW_LOG_FORMAT": "json"}
    codec = CodecSettings()
    if variant == "on":
        keys = block_dir / "keys.json"
        add_key(keys, "bench-1", activate=True)
        env["RTW_CODEC_KEYS_FILE"] = str(keys)
        codec = CodecSettings(keys_file=keys)
    server = DevServer(data_dir=block_dir, port=free_port(), ui_port=None)
    await server.start()
    settings = TemporalSettings(address=server.address, codec=codec)
    stack = LocalStack(address=server.address, env=env, log_dir=block_dir / "logs")
    try:
        await stack.start()
        await _sagas(settings, block, 0, config.warmup, config.concurrency)
        pids = [w.process.pid for w in stack.workers.values() if w.process is not None]
        cpu_before = sum(process_cpu_seconds(pid) for pid in pids)
        began = time.perf_counter()
        latencies, failures = await _sagas(
            settings, block, config.warmup, config.sagas, config.concurrency
        )
        seconds = time.perf_counter() - began
        cpu = sum(process_cpu_seconds(pid) for pid in pids) - cpu_before
    finally:
        await stack.stop()
        await server.stop()
        shutil.rmtree(block_dir, ignore_errors=True)
    return Block(
        variant=variant,
        sagas=config.sagas,
        seconds=round(seconds, 3),
        sagas_per_second=round(config.sagas / seconds, 2),
        cpu_ms_per_saga=round(cpu / config.sagas * 1000, 2),
        failures=failures,
        latencies_ms=latencies,
    )


def summarize(blocks: list[Block]) -> dict[str, Any]:
    """Per-variant medians and the relative cost of encryption."""
    summary: dict[str, Any] = {}
    for variant in VARIANTS:
        mine = [b for b in blocks if b.variant == variant]
        summary[variant] = {
            "blocks": len(mine),
            "sagas_per_second_median": round(
                statistics.median(b.sagas_per_second for b in mine), 2
            ),
            "cpu_ms_per_saga_median": round(statistics.median(b.cpu_ms_per_saga for b in mine), 2),
            "p50_latency_ms_median": round(statistics.median(b.p50_ms for b in mine), 1),
            "failures": sum(b.failures for b in mine),
        }
    off, on = summary["off"], summary["on"]
    summary["encryption_cost"] = {
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


def markdown(meta: dict[str, Any], micro: dict[str, float], summary: dict[str, Any]) -> str:
    """The results as a short markdown report."""
    cost = summary["encryption_cost"]
    lines = [
        "# Payload encryption on vs off",
        "",
        f"- when: {meta['started_at']}; machine: {meta['machine']} ({meta['cpus']} CPUs)",
        f"- command: `{meta['command']}`",
        f"- machine load (1-minute average) at start and end: {meta['load_average_1m'][0]}, "
        f"{meta['load_average_1m'][1]} (other work on the machine is noise in both variants)",
        f"- {meta['sagas']} sagas per block after {meta['warmup']} warm-up sagas, concurrency "
        f"{meta['concurrency']}, {meta['blocks']} interleaved blocks, each on a fresh dev server "
        "and fresh worker processes; modules byte-compiled first",
        "",
        f"Codec alone (one order payload, {micro['plain_bytes']} bytes → "
        f"{micro['encrypted_bytes']} bytes encrypted): encode {micro['encode_us_per_payload']} µs, "
        f"decode {micro['decode_us_per_payload']} µs.",
        "",
        "| encryption | sagas/s (median) | worker CPU ms/saga (median) | p50 latency ms |",
        "|---|---|---|---|",
    ]
    for variant in VARIANTS:
        s = summary[variant]
        lines.append(
            f"| {variant} | {s['sagas_per_second_median']} | {s['cpu_ms_per_saga_median']} | "
            f"{s['p50_latency_ms_median']} |"
        )
    lines += [
        "",
        f"Encryption on: throughput {cost['throughput_change_pct']:+}%, worker CPU per saga "
        f"{cost['cpu_per_saga_change_pct']:+}%, p50 latency {cost['p50_latency_change_pct']:+}%.",
    ]
    return "\n".join(lines) + "\n"


async def run_codec_bench(
    config: CodecBenchConfig, *, command: str
) -> tuple[Path, Path, dict[str, Any]]:
    """Measure, write JSON and markdown under `config.out_dir`, return their paths."""
    compileall.compile_dir(str(SERVICES_DIR), quiet=1)
    started = datetime.now(UTC)
    load_before = os.getloadavg()[0]
    micro = await measure_codec(config.codec_rounds)
    blocks = [await run_block(VARIANTS[i % 2], i, config) for i in range(config.blocks)]
    summary = summarize(blocks)
    meta = {
        "started_at": started.isoformat(timespec="seconds"),
        "command": command,
        "machine": f"{platform.system()} {platform.machine()} Python {platform.python_version()}",
        "cpus": os.cpu_count(),
        "sagas": config.sagas,
        "warmup": config.warmup,
        "concurrency": config.concurrency,
        "blocks": config.blocks,
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    config.out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"codec-{started.strftime('%Y%m%dT%H%M%SZ')}"
    json_path, md_path = config.out_dir / f"{stem}.json", config.out_dir / f"{stem}.md"
    blocks_out = [
        {
            **{k: v for k, v in asdict(b).items() if k != "latencies_ms"},
            "p50_ms": round(b.p50_ms, 1),
        }
        for b in blocks
    ]
    json_path.write_text(
        json.dumps(
            {"meta": meta, "codec": micro, "summary": summary, "blocks": blocks_out}, indent=2
        )
        + "\n",
        encoding="utf-8",
    )
    md_path.write_text(markdown(meta, micro, summary), encoding="utf-8")
    return json_path, md_path, summary
