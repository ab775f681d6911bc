"""`rtw bench events`: how fast order events reach SSE clients, and what open streams cost.

One fresh stack per backend: the embedded dev server (tuned, fresh file), the three workers
and two gateway processes, byte-compiled first; SQLite (the `rtw dev` stack: one poller per
gateway) or PostgreSQL (LISTEN/NOTIFY). Clients are in this process (aiohttp), on loopback.

- Latency: each event's arrival at a client minus its `recorded_at` (set in the writing
  step's transaction, just before its commit, so the figure slightly overstates
  commit-to-client). Only events recorded after the stream opened count.
- Scale: blocks of sagas alternate between no stream and `streams` open streams (every
  saga in flight followed by `streams / concurrency` clients, half on each gateway). Per
  block: the Temporal server's CPU per saga (/proc), and the gateways' peak RSS.
"""

from __future__ import annotations

import asyncio
import compileall
import json
import logging
import os
import platform
import secrets
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from services.bench.procstat import cpu_seconds, peak_rss_mb
from services.bench.stats import percentile
from services.chaos.postgres import TempPostgres
from services.gateway.process import GatewayProcess
from services.runtime.devserver import DevServer, free_port
from services.runtime.local_stack import LocalStack

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parents[1]
#: The chart's memory limit of a gateway pod (charts/rtw/values.yaml, gateway.resources).
CHART_MEMORY_LIMIT_MB = 384 * 1.048576


@dataclass(frozen=True)
class EventsBenchConfig:
    """What to run."""

    sagas: int = 40
    blocks: int = 4
    concurrency: int = 10
    streams: int = 200
    backends: tuple[str, ...] = ("sqlite", "postgresql")
    out_dir: Path = Path("bench/results")
    work_dir: Path = Path(".rtw/bench-events")


@dataclass
class Block:
    """One block of sagas, with or without streams."""

    streams: int
    sagas: int
    seconds: float
    server_cpu_ms_per_saga: float
    gateway_peak_rss_mb: list[float]
    latencies_ms: list[float] = field(default_factory=list)
    events_received: int = 0


def _order(order_id: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer_id": "c-bench",
        "currency": "USD",
        "payment_method": "pm_card_visa",
        "items": [{"sku": "sku-1", "quantity": 1, "unit_price_cents": 1500}],
    }


async def _follow(
    http: aiohttp.ClientSession, url: str, order_id: str, latencies: list[float]
) -> int:
    """Read one order's stream to its end; append the latency of each live event."""
    opened = time.time()
    count = 0
    async with http.get(
        f"{url}/orders/{order_id}/events", timeout=aiohttp.ClientTimeout(total=300)
    ) as response:
        response.raise_for_status()
        data: list[str] = []
        async for raw in response.content:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and data:
                arrived = time.time()
                event = json.loads("\n".join(data))
                data = []
                count += 1
                recorded = datetime.fromisoformat(event["recorded_at"]).timestamp()
                if recorded >= opened:
                    latencies.append((arrived - recorded) * 1000)
                if event["type"] in {
                    "order.completed",
                    "order.compensated",
                    "order.rejected",
                    "order.cancelled",
                    "order.failed",
                }:
                    break
    return count


async def _run_block(
    server: DevServer,
    gateways: list[GatewayProcess],
    token: str,
    config: EventsBenchConfig,
    *,
    streams: int,
    prefix: str,
) -> Block:
    per_saga = streams // config.concurrency if streams else 0
    latencies: list[float] = []
    received = 0
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=0)
    limit = asyncio.Semaphore(config.concurrency)
    assert server.pid is not None
    async with aiohttp.ClientSession(headers=headers, connector=connector) as http:

        async def one(i: int) -> None:
            nonlocal received
            order_id = f"{prefix}-{i}"
            async with limit:
                async with http.post(
                    f"{gateways[0].url}/orders",
                    json=_order(order_id),
                    headers={"Idempotency-Key": order_id},
                ) as answer:
                    if answer.status != 201:
                        raise RuntimeError(f"POST /orders: {answer.status} {await answer.text()}")
                followers = [
                    _follow(http, gateways[k % len(gateways)].url, order_id, latencies)
                    for k in range(per_saga)
                ]
                if followers:
                    counts = await asyncio.gather(*followers)
                    received += sum(counts)
                else:  # no stream: wait for the end the cheap way (one call at the end)
                    await _wait_final(http, gateways[0].url, order_id)

        before = cpu_seconds(server.pid)
        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(config.sagas)))
        seconds = time.monotonic() - started
        after = cpu_seconds(server.pid)
    rss = []
    for gateway in gateways:
        assert gateway.process is not None
        rss.append(round(peak_rss_mb(gateway.process.pid), 1))
    return Block(
        streams=streams,
        sagas=config.sagas,
        seconds=round(seconds, 2),
        server_cpu_ms_per_saga=round((after - before) / config.sagas * 1000, 2),
        gateway_peak_rss_mb=rss,
        latencies_ms=latencies,
        events_received=received,
    )


async def _wait_final(http: aiohttp.ClientSession, url: str, order_id: str) -> None:
    """Poll the order's status every second until it has ended (no-stream blocks)."""
    while True:
        await asyncio.sleep(1.0)
        async with http.get(f"{url}/orders/{order_id}") as answer:
            if answer.status == 200 and (await answer.json())["state"] in {
                "completed",
                "compensated",
                "rejected",
                "cancelled",
                "failed",
            }:
                return


async def run_backend(config: EventsBenchConfig, backend: str) -> dict[str, Any]:
    """All blocks of one backend on one fresh stack."""
    work = config.work_dir / f"{backend}-{uuid.uuid4().hex[:6]}"
    work.mkdir(parents=True)
    token = secrets.token_hex(16)
    (work / "tokens").write_text(f"{token} bench reviewer\n", encoding="utf-8")
    env = {"RTW_DATA_DIR": str(work), "RTW_LOG_LEVEL": "WARNING", "RTW_LOG_FORMAT": "json"}
    pg: TempPostgres | None = None
    if backend == "postgresql":
        pg = TempPostgres(durable=True).start()
        env["RTW_DATABASE_URL"] = pg.create_database("rtw")
        env["RTW_DATABASE_POOL_SIZE"] = "10"
        from services.runtime.database import PostgresDatabase

        db = PostgresDatabase(env["RTW_DATABASE_URL"])
        await db.open()
        await db.migrate()
        await db.close()
    server = DevServer(data_dir=work, port=free_port(), ui_port=None)
    await server.start()
    stack = LocalStack(address=server.address, env=env, log_dir=work / "logs")
    gateway_env = {
        **env,
        "TEMPORAL_ADDRESS": server.address,
        "RTW_GATEWAY_TOKENS_FILE": str(work / "tokens"),
        "RTW_GATEWAY_REQUEST_TIMEOUT_SECONDS": "10",
    }
    gateways = [
        GatewayProcess(
            port=free_port(),
            health_port=free_port(),
            env=gateway_env,
            log_file=work / "logs" / f"gateway-{i}.log",
        )
        for i in range(2)
    ]
    blocks: list[Block] = []
    try:
        await stack.start()
        for gateway in gateways:
            await gateway.start()
        await _run_block(server, gateways, token, config, streams=0, prefix=f"warm-{backend}")
        for b in range(config.blocks):
            streams = config.streams if b % 2 else 0
            block = await _run_block(
                server, gateways, token, config, streams=streams, prefix=f"b{b}-{backend}"
            )
            logger.warning(
                "%s block %d: %d streams, server %.1f ms/saga, gateway RSS %s MB",
                backend,
                b,
                streams,
                block.server_cpu_ms_per_saga,
                block.gateway_peak_rss_mb,
            )
            blocks.append(block)
    finally:
        for gateway in gateways:
            await gateway.stop()
        await stack.stop()
        await server.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    return _summary(backend, blocks, config)


def _summary(backend: str, blocks: list[Block], config: EventsBenchConfig) -> dict[str, Any]:
    quiet = [b.server_cpu_ms_per_saga for b in blocks if not b.streams]
    streamed = [b.server_cpu_ms_per_saga for b in blocks if b.streams]
    latencies = [ms for b in blocks for ms in b.latencies_ms]
    base = sum(quiet) / len(quiet)
    loaded = sum(streamed) / len(streamed)
    peak = max(mb for b in blocks for mb in b.gateway_peak_rss_mb)
    return {
        "backend": backend,
        "events_measured": len(latencies),
        "latency_ms": {
            "p50": round(percentile(latencies, 0.50), 1),
            "p95": round(percentile(latencies, 0.95), 1),
            "p99": round(percentile(latencies, 0.99), 1),
            "max": round(max(latencies), 1),
        },
        "server_cpu_ms_per_saga_without_streams": round(base, 2),
        "server_cpu_ms_per_saga_with_streams": round(loaded, 2),
        "server_cpu_added": round(loaded / base - 1, 3),
        "gateway_peak_rss_mb": peak,
        "chart_memory_limit_mb": round(CHART_MEMORY_LIMIT_MB, 1),
        "targets": {
            "p95 <= 100 ms": percentile(latencies, 0.95) <= 100,
            "server CPU added <= 10 %": loaded / base - 1 <= 0.10,
            "gateway RSS under the chart limit": peak < CHART_MEMORY_LIMIT_MB,
        },
        "blocks": [{k: v for k, v in asdict(b).items() if k != "latencies_ms"} for b in blocks],
        "streams": config.streams,
        "concurrency": config.concurrency,
    }


async def run_events_bench(config: EventsBenchConfig) -> list[dict[str, Any]]:
    """Every backend, one after the other."""
    await asyncio.to_thread(compileall.compile_dir, str(PACKAGE_DIR), quiet=1)
    return [await run_backend(config, backend) for backend in config.backends]


def _markdown(meta: dict[str, Any], results: list[dict[str, Any]]) -> str:
    lines = [
        "# Order events: latency to SSE clients, and what open streams cost",
        "",
        f"- when: {meta['started_at']}; machine: {meta['machine']} ({meta['cpus']} CPUs, "
        f"load average {meta['load']} at start)",
        f"- command: `{meta['command']}`",
        "- one fresh dev server (tuned), the three workers and two gateway processes per "
        "backend, byte-compiled; clients in the bench process on loopback. Latency: arrival "
        "at the client minus the event's `recorded_at` (written in the step's transaction, "
        "just before its commit). Blocks alternate between no stream and "
        f"{meta['streams']} open streams ({meta['concurrency']} sagas in flight, each "
        f"followed by {meta['streams'] // meta['concurrency']} clients, half per gateway)",
        "",
        "| backend | events | p50 ms | p95 ms | p99 ms | server CPU ms/saga, no streams | "
        "with streams | added | gateway peak RSS MB (limit) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lat = r["latency_ms"]
        lines.append(
            f"| {r['backend']} | {r['events_measured']} | {lat['p50']} | {lat['p95']} | "
            f"{lat['p99']} | {r['server_cpu_ms_per_saga_without_streams']} | "
            f"{r['server_cpu_ms_per_saga_with_streams']} | {r['server_cpu_added'] * 100:.1f} % | "
            f"{r['gateway_peak_rss_mb']} ({r['chart_memory_limit_mb']}) |"
        )
    lines += ["", "Targets:", ""]
    for r in results:
        met = ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in r["targets"].items())
        lines.append(f"- {r['backend']}: {met}")
    lines += ["", "Blocks (server CPU per saga, gateways' peak RSS):", ""]
    for r in results:
        for b in r["blocks"]:
            lines.append(
                f"- {r['backend']}, {b['streams']} streams: {b['server_cpu_ms_per_saga']} ms, "
                f"{b['gateway_peak_rss_mb']} MB, {b['events_received']} events received, "
                f"{b['seconds']} s"
            )
    return "\n".join(lines) + "\n"


def write_events_results(
    results: list[dict[str, Any]], config: EventsBenchConfig, *, command: str, started: datetime
) -> tuple[Path, Path]:
    """bench/results/events-<time>.json and .md."""
    meta = {
        "started_at": started.isoformat(timespec="seconds"),
        "command": command,
        "machine": f"{platform.system()} {platform.machine()} Python {platform.python_version()}",
        "cpus": os.cpu_count(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "streams": config.streams,
        "concurrency": config.concurrency,
    }
    config.out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"events-{started.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    json_path, md_path = config.out_dir / f"{stem}.json", config.out_dir / f"{stem}.md"
    json_path.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    md_path.write_text(_markdown(meta, results), encoding="utf-8")
    return json_path, md_path
