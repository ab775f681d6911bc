"""`rtw bench coldstart`: seconds from spawning a worker to its first poll, and its RSS
once polling, for each rtw worker and the bare-SDK worker (medians of repeated starts)."""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

from temporalio.client import Client

from services.bench.processes import ProcessSpec, WorkerSet, bare_spec, platform_spec
from services.bench.variants import ROLES
from services.runtime.bytecode import compile_services
from services.runtime.devserver import DevServer, free_port

#: Seconds a worker runs after its first poll before its RSS is read.
SETTLE_SECONDS = 1.0


def _specs(address: str, work_dir: Path, run: int) -> list[ProcessSpec]:
    env = {
        "TEMPORAL_ADDRESS": address,
        "RTW_DATA_DIR": str(work_dir / f"data-{run}"),
        "RTW_LOG_LEVEL": "WARNING",
        "RTW_HEALTH_PORT": str(free_port()),
    }
    specs = [platform_spec(role, prefix=f"c{run}-", env=env, name=f"rtw {role}") for role in ROLES]
    bare = bare_spec("orchestration", prefix=f"c{run}-bare-", address=address)
    return [
        *specs,
        ProcessSpec(
            name="bare orchestration",
            argv=bare.argv,
            task_queue=bare.task_queue,
            polls_workflows=True,
        ),
    ]


async def measure_cold_starts(*, repeat: int, work_dir: Path) -> dict[str, Any]:
    """Start every worker `repeat` times, one at a time, on one fresh dev server."""
    compile_services()
    server = DevServer(data_dir=work_dir, port=free_port(), ui_port=None)
    await server.start()
    seconds: dict[str, list[float]] = {}
    rss: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    try:
        client = await Client.connect(server.address)
        for run in range(repeat):
            for spec in _specs(server.address, work_dir, run):
                async with WorkerSet(client, [spec], log_dir=work_dir / "logs") as workers:
                    await asyncio.sleep(SETTLE_SECONDS)
                    seconds.setdefault(spec.name, []).append(workers.cold_starts()[spec.name])
                    rss.setdefault(spec.name, []).append(workers.peak_rss()[spec.name])
                    cpu.setdefault(spec.name, []).append(workers.cold_start_cpu()[spec.name])
    finally:
        await server.stop()
        shutil.rmtree(work_dir, ignore_errors=True)
    return {
        name: {
            "cold_start_s_median": round(statistics.median(values), 3),
            "cold_start_s_min": round(min(values), 3),
            "cold_start_cpu_s_median": round(statistics.median(cpu[name]), 3),
            "rss_mb_median": round(statistics.median(rss[name]), 1),
            "starts": len(values),
        }
        for name, values in seconds.items()
    } | {"python": sys.version.split()[0]}
