"""One chaos (or scale) run: a stack of several replicas per queue on one PostgreSQL, sagas
in flight, faults injected during the load, then the books audited."""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from services.chaos.audit import (
    audit_cancelled,
    audit_events,
    audit_money,
    measure_recovery,
    recovery_by_fault,
    tally,
)
from services.chaos.fleet import Fleet
from services.chaos.hostile import probe_hostile_inputs
from services.chaos.orders import Outcome, drive, order_mix
from services.chaos.postgres import TempPostgres
from services.contracts import TaskQueue
from services.payments.activities import CRASH_EXIT_CODE
from services.runtime.config import TemporalSettings
from services.runtime.connection import connect
from services.runtime.database import PostgresDatabase
from services.runtime.devserver import DevServer, free_port

logger = logging.getLogger(__name__)

#: Least time between two injected faults.
FAULT_GAP_SECONDS = 6.0


@dataclass(frozen=True)
class ChaosConfig:
    """What a run sends and which faults it injects."""

    sagas: int = 40
    payment_kills: int = 3
    crash_after_capture: bool = True
    kill_during_compensations: bool = True
    server_restart: bool = True
    rolling_restart: bool = True
    hostile: bool = True
    orchestration: int = 2
    payments: int = 3
    notifications: int = 2
    in_flight: int = 16
    provider_latency_ms: int = 400
    #: Share of orders cancelled 0-2 s after their start (after the decision for large ones).
    cancel_share: float = 0.2
    #: Saga starts are spread over this long, and faults fire inside it, so every fault
    #: meets sagas in flight.
    load_seconds: float = 60.0
    deadline_seconds: float = 300.0
    seed: int = 7


PROFILES: dict[str, ChaosConfig] = {
    "quick": ChaosConfig(),
    "full": ChaosConfig(sagas=200, payment_kills=10, load_seconds=150.0, deadline_seconds=900.0),
    "scale": ChaosConfig(
        sagas=60,
        load_seconds=12.0,
        payment_kills=1,
        crash_after_capture=False,
        kill_during_compensations=False,
        server_restart=False,
        rolling_restart=False,
        hostile=False,
        cancel_share=0.0,
    ),
}


@dataclass
class Fault:
    """One injected fault: seconds into the load, its kind, what it hit, and wall time."""

    at: float
    kind: str
    what: str
    wall: float = 0.0


@dataclass
class ChaosReport:
    """Everything a run measured; `ok` is the verdict."""

    profile: str
    config: dict[str, Any]
    machine: dict[str, Any]
    started: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    unexpected_failures: list[str] = field(default_factory=list)
    double_charges: list[str] = field(default_factory=list)
    orphaned_charges: list[str] = field(default_factory=list)
    over_captured: list[str] = field(default_factory=list)
    #: Orders the run asked to cancel, and cancelled orders that kept money, a hold or stock.
    cancels_requested: int = 0
    cancelled_unsettled: list[str] = field(default_factory=list)
    limited_reserved: int = 0
    oversold: bool = False
    duplicate_outbox_rows: int = 0
    confirmations_missing: list[str] = field(default_factory=list)
    #: Order events: how many were checked, and every gap, repeat or wrong last event.
    events_checked: int = 0
    event_problems: list[str] = field(default_factory=list)
    max_recovery_seconds: float = 0.0
    recovery_by_fault: dict[str, float] = field(default_factory=dict)
    retried_payment_steps: int = 0
    workflow_task_timeouts: int = 0
    max_workflow_task_seconds: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    hostile: list[dict[str, Any]] = field(default_factory=list)
    unexpected_exits: list[str] = field(default_factory=list)
    worker_restarts: int = 0
    crash_after_capture_fired: bool | None = None
    duration_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Nothing lost, double-charged, orphaned, oversold or unexpectedly failed."""
        return not (
            self.lost
            or self.unexpected_failures
            or self.double_charges
            or self.orphaned_charges
            or self.over_captured
            or self.cancelled_unsettled
            or self.oversold
            or self.duplicate_outbox_rows
            or self.confirmations_missing
            or self.event_problems
            or self.unexpected_exits
            or any(not h["ok"] for h in self.hostile)
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the verdict."""
        return {**asdict(self), "ok": self.ok}


def machine() -> dict[str, Any]:
    """Where the figures came from."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


async def _inject(
    config: ChaosConfig,
    fleet: Fleet,
    server: DevServer,
    crash_flag: Path,
    faults: list[Fault],
    rng: random.Random,
) -> None:
    """Fire each fault at its time inside the load window, at least FAULT_GAP_SECONDS apart
    (so each one's recovery can be told from the next one's)."""
    t0 = time.monotonic()
    schedule: list[tuple[float, str, Callable[[], Awaitable[str]]]] = []

    async def kill_payments() -> str:
        replica = rng.choice(fleet.of(TaskQueue.PAYMENTS))
        await fleet.kill(replica)
        return f"SIGKILL payments-{replica[1]}"

    async def arm_crash() -> str:
        await asyncio.to_thread(crash_flag.touch)
        return "armed: a payments worker dies after committing its next capture"

    async def kill_during_compensations() -> str:
        orch = rng.choice(fleet.of(TaskQueue.ORCHESTRATION))
        pay = rng.choice(fleet.of(TaskQueue.PAYMENTS))
        await asyncio.gather(fleet.kill(orch), fleet.kill(pay))
        return (
            f"SIGKILL orchestration-{orch[1]} and payments-{pay[1]} "
            "(declined and out-of-stock sagas compensating)"
        )

    async def restart_server() -> str:
        await server.stop()
        await asyncio.sleep(1.0)
        await server.start()
        return "dev server stopped and restarted on its database file"

    async def rolling_restart() -> str:
        codes = []
        for replica in list(fleet.workers):
            fleet.held.add(replica)
            try:
                codes.append(await fleet.terminate(replica))
                await fleet.restart(replica)
            finally:
                fleet.held.discard(replica)
        return f"rolling restart of {len(codes)} workers (SIGTERM exit codes {sorted(set(codes))})"

    for i in range(config.payment_kills):
        at = 0.05 + 0.75 * (i + rng.random()) / max(1, config.payment_kills)
        schedule.append((at, "kill", kill_payments))
    if config.crash_after_capture:
        schedule.append((0.25, "crash_after_capture", arm_crash))
    if config.kill_during_compensations:
        schedule.append((0.45, "kill", kill_during_compensations))
    if config.server_restart:
        schedule.append((0.55, "server_restart", restart_server))
    if config.rolling_restart:
        schedule.append((0.65, "rolling_restart", rolling_restart))
    last = -FAULT_GAP_SECONDS
    for fraction, kind, action in sorted(schedule, key=lambda s: s[0]):
        due = max(t0 + fraction * config.load_seconds, last + FAULT_GAP_SECONDS)
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        wall = time.time()
        what = await action()
        last = time.monotonic()
        faults.append(Fault(round(last - t0, 2), kind, what, wall))
        logger.info("fault at %.1fs: %s", last - t0, what)


async def run_chaos(
    config: ChaosConfig,
    *,
    profile: str,
    work_dir: Path,
    database_url: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ChaosReport:
    """Run the load and the faults; audit and return the report."""
    run_id = f"chaos-{uuid.uuid4().hex[:6]}"
    report = ChaosReport(profile=profile, config=asdict(config), machine=machine())
    rng = random.Random(config.seed)  # nosec B311  # reproducible fault schedule, not security
    pg: TempPostgres | None = None
    if database_url is None:
        pg = TempPostgres().start()
        database_url = pg.create_database("rtw")
    server = DevServer(data_dir=work_dir / "temporal", port=free_port(), ui_port=None)
    db = PostgresDatabase(database_url, pool_size=4)
    fleet: Fleet | None = None
    supervisor: asyncio.Task[None] | None = None
    started = time.monotonic()
    try:
        await server.start()
        await db.open()
        await db.migrate()
        crash_flag = work_dir / "crash-after-capture"
        prefix = f"{run_id}-"
        env = {
            "TEMPORAL_ADDRESS": server.address,
            "RTW_QUEUE_PREFIX": prefix,
            "RTW_DATABASE_URL": database_url,
            "RTW_DATABASE_POOL_SIZE": "4",
            "RTW_DATA_DIR": str(work_dir / "data"),
            "RTW_LOG_FORMAT": "json",
            "RTW_PAYMENTS_PROVIDER_LATENCY_MS": str(config.provider_latency_ms),
            "RTW_FAULT_CRASH_AFTER_CAPTURE": str(crash_flag),
            "RTW_GRACEFUL_SHUTDOWN_SECONDS": "10",
        }
        fleet = Fleet(
            env=env,
            replicas={
                TaskQueue.ORCHESTRATION: config.orchestration,
                TaskQueue.PAYMENTS: config.payments,
                TaskQueue.NOTIFICATIONS: config.notifications,
            },
            log_dir=work_dir / "logs",
        )
        await fleet.start()
        supervisor = asyncio.create_task(
            fleet.supervise(injected_codes=frozenset({CRASH_EXIT_CODE}))
        )
        client = await connect(TemporalSettings(address=server.address))
        queue = f"{prefix}{TaskQueue.ORCHESTRATION.value}"
        orders = order_mix(config.sagas, run_id=run_id, rng=rng)
        report.started = len(orders)
        picks = random.Random(config.seed + 1)  # nosec B311 - a reproducible cancel schedule
        cancels = {
            i: picks.uniform(0.0, 2.0)
            for i in range(len(orders))
            if picks.random() < config.cancel_share
        }
        report.cancels_requested = len(cancels)
        limit = asyncio.Semaphore(config.in_flight)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + config.deadline_seconds
        spacing = config.load_seconds / max(1, len(orders))
        done = 0

        async def one(i: int, kind: Any, order: Any) -> Outcome:
            nonlocal done
            await asyncio.sleep(i * spacing)  # starts paced across the load window
            async with limit:
                outcome = await drive(
                    client,
                    kind,
                    order,
                    task_queue=queue,
                    deadline=deadline,
                    cancel_after=cancels.get(i),
                )
            done += 1
            if on_progress:
                on_progress(done, len(orders))
            return outcome

        injector = asyncio.create_task(
            _inject(config, fleet, server, crash_flag, report.faults, rng)
        )
        outcomes = await asyncio.gather(*(one(i, k, o) for i, (k, o) in enumerate(orders)))
        await injector
        if config.crash_after_capture:
            report.crash_after_capture_fired = not crash_flag.exists()
        if config.hostile:
            probes = await probe_hostile_inputs(client, task_queue=queue, run_id=run_id)
            report.hostile = [asdict(p) for p in probes]

        counted = tally(outcomes)
        report.by_state, report.lost = counted["by_state"], counted["lost"]
        report.unexpected_failures = counted["unexpected"]
        money = await audit_money(db, outcomes)
        report.double_charges = money.double_charges
        report.orphaned_charges = money.orphaned_charges
        report.over_captured = money.over_captured
        report.cancelled_unsettled = await audit_cancelled(db, outcomes)
        report.limited_reserved = money.limited_reserved
        report.oversold = money.oversold
        report.duplicate_outbox_rows = money.duplicate_outbox_rows
        report.confirmations_missing = money.confirmations_missing
        events = await audit_events(db, outcomes)
        report.events_checked = events.events
        report.event_problems = events.problems
        recovery = await measure_recovery(client, [o.order_id for o in outcomes])
        report.retried_payment_steps = len(recovery.retried)
        report.recovery_by_fault = recovery_by_fault(
            recovery.retried, [(f.wall, f.kind) for f in report.faults]
        )
        report.max_recovery_seconds = report.recovery_by_fault.get("kill", 0.0)
        report.workflow_task_timeouts = recovery.workflow_task_timeouts
        report.max_workflow_task_seconds = round(recovery.max_workflow_task_seconds, 2)
        report.unexpected_exits = list(fleet.unexpected_exits)
        report.worker_restarts = fleet.restarts
    finally:
        report.duration_seconds = round(time.monotonic() - started, 1)
        if fleet is not None:
            await fleet.settle()
        if supervisor is not None:
            supervisor.cancel()
        if fleet is not None:
            codes = await fleet.stop()
            report.unexpected_exits += [
                f"{r}: exit {c} on final SIGTERM" for r, c in codes.items() if c != 0
            ]
        await db.close()
        await server.stop()
        if pg is not None:
            pg.stop()
    return report
