"""Payments-bound scaling: the same load with 1, 2 and 4 payments processes on one shared
PostgreSQL ledger, each process making one provider call at a time with a slow provider."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from services.bench.driver import Driver
from services.bench.processes import WorkerSet, platform_spec
from services.bench.variants import PLATFORM
from services.chaos.postgres import TempPostgres
from services.runtime.config import TemporalSettings
from services.runtime.connection import connect
from services.runtime.database import PostgresDatabase
from services.runtime.devserver import DevServer, free_port

#: Simulated provider latency and provider calls per payments process at once: low enough
#: that payments is the bottleneck even with four processes on two cores.
PROVIDER_LATENCY_MS = 800
PAYMENTS_SLOTS = 1


async def payments_scaling(
    *,
    counts: Sequence[int],
    sagas: int,
    work_dir: Path,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Throughput with each number of payments processes; one fresh server and PostgreSQL.

    All `sagas` start at once: they queue for the payments processes' provider calls, so
    the time until the last one ends is set by how many calls run in parallel."""
    work_dir = work_dir / f"scaling-{uuid.uuid4().hex[:8]}"  # a fresh server database
    pg = TempPostgres().start()
    server = DevServer(data_dir=work_dir, port=free_port(), ui_port=None)
    results: dict[str, Any] = {
        "provider_latency_ms": PROVIDER_LATENCY_MS,
        "payments_slots_per_process": PAYMENTS_SLOTS,
        "sagas": sagas,
        "by_processes": {},
    }
    try:
        url = pg.create_database("rtw")
        db = PostgresDatabase(url, pool_size=2)
        await db.open()
        try:
            await db.migrate()
        finally:
            await db.close()
        await server.start()
        client = await connect(TemporalSettings(address=server.address))
        for count in counts:
            progress(f"payments scaling: {count} payments process(es)")
            prefix = f"scale{count}-"
            env = {
                "TEMPORAL_ADDRESS": server.address,
                "RTW_DATABASE_URL": url,
                "RTW_DATABASE_POOL_SIZE": "4",
                "RTW_DATA_DIR": str(work_dir / "data"),
                "RTW_LOG_LEVEL": "WARNING",
                "RTW_LOG_FORMAT": "json",
                "RTW_PAYMENTS_PROVIDER_LATENCY_MS": str(PROVIDER_LATENCY_MS),
                "RTW_GRACEFUL_SHUTDOWN_SECONDS": "5",
            }
            slots = {"RTW_MAX_CONCURRENT_ACTIVITIES": str(PAYMENTS_SLOTS)}
            specs = [
                platform_spec("orchestration", prefix=prefix, env=env),
                platform_spec("notifications", prefix=prefix, env=env),
                *(
                    platform_spec(
                        "payments", prefix=prefix, env={**env, **slots}, name=f"payments-{i}"
                    )
                    for i in range(count)
                ),
            ]
            log_dir = work_dir / "logs" / str(count)
            async with WorkerSet(client, specs, log_dir=log_dir):
                driver = Driver(
                    PLATFORM, prefix=prefix, tag=f"scale{count}", bare=client, platform=client
                )
                batch = await driver.batch(0, sagas, sagas)
                results["by_processes"][str(count)] = {
                    "sagas_per_second": round(batch.per_second, 3),
                    "seconds": round(batch.seconds, 2),
                    "failures": batch.failures,
                }
    finally:
        await server.stop()
        pg.stop()
        shutil.rmtree(work_dir, ignore_errors=True)
    return results
