"""`rtw bench cost`: billable actions per order type, per worker start and per rollout, as
the Temporal server counts them (its `action` metric), checked against the histories.

One fresh dev server with `--metrics-port`. Everything runs one thing at a time, and every
reading waits until the counters have stopped moving, so each figure is the actions of
exactly what ran: worker starts (rtw's versioned workers, unversioned ones), each order
type `repeat` times, the bare same-shape mirror's happy order, the clients around an order,
and last a rollout (a new build started and promoted) and a build draining.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess  # nosec B404 - runs the temporal CLI for its version
import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from services.bench.actions import ActionMeter, Actions, MeteredDevServer
from services.bench.bare_activities import BareSagaInput
from services.bench.bare_same_shape import START_ATTRIBUTES
from services.bench.billable import (
    HEARTBEAT,
    QUERY,
    START,
    UPDATE_REJECTED,
    history_actions,
)
from services.bench.cost_clients import client_costs
from services.bench.cost_deployments import rollout_and_drain, worker_starts
from services.bench.cost_orders import ORDER_TYPES, OrderType, Ran
from services.bench.cost_report import write_cost_results
from services.bench.cost_stacks import (
    DEPLOYMENT_QUIET_SECONDS,
    DRAINAGE_CONFIG,
    ORDER_QUIET_SECONDS,
    BareStack,
    CostRun,
    Measured,
    Progress,
    Stack,
    measure,
)
from services.bench.run import machine
from services.runtime.bytecode import compile_services
from services.runtime.config import TemporalSettings
from services.runtime.connection import connect
from services.runtime.devserver import temporal_cli

#: Action types that leave no history event: only the metric counts them.
METRIC_ONLY = frozenset({QUERY, HEARTBEAT, UPDATE_REJECTED})


@dataclass(frozen=True)
class CostConfig:
    """What `rtw bench cost` runs."""

    repeat: int = 3
    order_types: Sequence[str] = tuple(t.name for t in ORDER_TYPES)
    worker_start: bool = True
    clients: Collection[str] | None = None
    """Client operations to measure (`cost_clients.client_costs`); None: all of them."""
    bare: bool = True
    search_attributes: bool = True
    """Register rtw's order search attributes on the server (without: no state upserts)."""
    work_dir: Path = Path(".rtw/bench-cost")
    keep_work_dir: bool = False


async def _history(client: Client, workflow_id: str, start: str) -> Counter[str]:
    try:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return Counter()  # no child on this path
        raise
    return history_actions(history.events, start=start)


async def _history_of(client: Client, ran: Ran) -> Counter[str]:
    counts: Counter[str] = Counter()
    for workflow_id, start in ran.workflows:
        counts += await _history(client, workflow_id, start)
    return counts


def order_record(
    what: str, expected: str, runs: Sequence[Ran], measured: Measured, histories: list[Counter[str]]
) -> dict[str, Any]:
    """One order type's figures: per order from the metric, and each order's history."""
    n = len(runs)
    per_order = {k: round(v / n, 3) for k, v in measured.by_type.items()}
    history_totals = [sum(h.values()) for h in histories]
    metric_seen = sum(v for k, v in measured.by_type.items() if k not in METRIC_ONLY)
    return {
        "what": what,
        "orders": n,
        "expected": expected,
        "outcomes": [r.outcome for r in runs],
        "ended_as_expected": all(r.outcome == expected for r in runs),
        "actions_per_order": round(measured.total / n, 3),
        "by_type": per_order,
        "history_actions": history_totals,
        "history_by_type": dict(sorted(histories[0].items())) if histories else {},
        "deterministic": len(set(history_totals)) <= 1,
        "history_matches_metric": sum(history_totals) == metric_seen,
        "by_namespace": measured.by_namespace,
    }


async def run_orders(
    run: CostRun,
    order_type: OrderType,
    stack: Stack | BareStack,
    *,
    repeat: int,
    before: Actions | None = None,
) -> tuple[dict[str, Any], Actions]:
    """`repeat` orders of one type, one after another, counted together (metric) and each
    (history); with the counters at the end (`before` of the next type)."""
    runs: list[Ran] = []
    client = run.bare_client if isinstance(stack, BareStack) else run.client

    async def work() -> None:
        for i in range(repeat):
            order_id = f"{run.tag}-{order_type.name}-{i}"
            runs.append(await order_type.drive(client, order_id, stack.queue))

    run.progress(f"orders: {order_type.name} x{repeat}")
    measured = await measure(run.meter, work, quiet=ORDER_QUIET_SECONDS, before=before)
    histories = [await _history_of(run.client, ran) for ran in runs]
    record = order_record(order_type.what, order_type.expected, runs, measured, histories)
    return record, measured.after


async def _bare_happy(client: Client, saga_id: str, queue: str) -> Ran:
    workflow_id = f"bare-{saga_id}"
    result: str = await client.execute_workflow(
        "BareSameShapeSaga",
        BareSagaInput(saga_id=saga_id),
        id=workflow_id,
        task_queue=queue,
        result_type=str,
        search_attributes=START_ATTRIBUTES,
    )
    return Ran(
        "completed" if result == saga_id else result,
        ((workflow_id, START), (f"bare-same-shipment-{saga_id}", START)),
    )


BARE_HAPPY = OrderType(
    "bare_same_shape",
    "the bare same-shape mirror's happy order (services/bench/bare_same_shape.py)",
    _bare_happy,
    "completed",
)


async def run_cost(config: CostConfig, *, progress: Progress = lambda _: None) -> dict[str, Any]:
    """Run everything `config` asks for on a fresh dev server; the results as JSON."""
    bytecode = compile_services()
    run_dir = config.work_dir / f"run-{int(time.time())}"
    server = MeteredDevServer(
        data_dir=run_dir,
        dynamic_config=DRAINAGE_CONFIG,
        search_attributes=config.search_attributes,
    )
    chosen = [t for t in ORDER_TYPES if t.name in config.order_types]
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            run = CostRun(
                server=server,
                meter=ActionMeter(server.metrics_url, session=session),
                client=await connect(TemporalSettings(address=server.address)),
                bare_client=await Client.connect(server.address),
                work_dir=run_dir,
                tag=f"cost{int(time.time()) % 100000}",
                progress=progress,
            )
            return await _run(run, config, chosen, bytecode)
    finally:
        await server.stop()
        if not config.keep_work_dir:
            shutil.rmtree(run_dir, ignore_errors=True)


async def _run(
    run: CostRun, config: CostConfig, chosen: Sequence[OrderType], bytecode: str
) -> dict[str, Any]:
    address = run.server.address
    async with contextlib.AsyncExitStack() as cleanup:  # no worker outlives a failure
        main = Stack(
            address, "p-", run.work_dir / "p", build_id="bench-a", promote_on_start="never"
        )
        cleanup.push_async_callback(main.stop)
        starts: dict[str, Measured] = {}
        if config.worker_start:
            starts = await worker_starts(run, main)
        else:
            run.progress("starting the workers")
            await main.start()
            await main.promote(run.client)
            await run.meter.settled(quiet=DEPLOYMENT_QUIET_SECONDS)  # the promotion's bookkeeping
        orders: dict[str, Any] = {}
        carrier_types = [t for t in chosen if t.carrier_events]
        carrier = Stack(  # unversioned: its start leaves no bookkeeping to wait out
            address, "c-", run.work_dir / "c", versioned=False, auto_deliver=False
        )
        cleanup.push_async_callback(carrier.stop)
        if carrier_types:
            run.progress("starting workers whose carrier reports through its webhook")
            await carrier.start()
        before: Actions | None = None  # each type's count starts where the one before ended
        for order_type in chosen:
            stack = carrier if order_type.carrier_events else main
            orders[order_type.name], before = await run_orders(
                run, order_type, stack, repeat=config.repeat, before=before
            )
        await carrier.stop()
        bare: dict[str, Any] = {}
        if config.bare:
            mirror = BareStack(run.bare_client, address, "bare-", run.work_dir / "bare-logs")
            cleanup.push_async_callback(mirror.stop)
            run.progress("worker start: the bare mirror's three workers")
            started = await measure(run.meter, mirror.start, quiet=ORDER_QUIET_SECONDS)
            starts["bare_start"] = started
            bare, _ = await run_orders(
                run, BARE_HAPPY, mirror, repeat=config.repeat, before=started.after
            )
            await mirror.stop()
        clients: dict[str, Any] = {}
        if (config.clients is None or config.clients) and "happy" in orders:
            run.progress("clients around an order")
            happy = round(orders["happy"]["actions_per_order"])
            approved = orders.get("approved", {}).get("actions_per_order")
            for cost in await client_costs(
                run.client,
                run.meter,
                main,
                address=address,
                happy_actions=happy,
                approved_actions=round(approved) if approved is not None else None,
                tag=run.tag,
                only=config.clients,
            ):
                clients[cost.name] = cost.record()
        rollout: dict[str, Measured] = {}
        draining: dict[str, Any] = {}
        if config.worker_start:
            rollout, draining = await rollout_and_drain(run, main)
        await main.stop()
        return {
            "bytecode": bytecode,
            "orders": orders,
            "bare_same_shape": bare,
            "clients": clients,
            "worker_start": {k: m.record() for k, m in starts.items()},
            "rollout": {k: m.record() for k, m in rollout.items()},
            "draining": draining,
        }


def server_version() -> str:
    """`temporal --version` of the dev server the bench starts."""
    out = subprocess.run(  # nosec B603 - the temporal CLI next to this interpreter, no shell
        [temporal_cli(), "--version"], capture_output=True, text=True, check=False, timeout=30
    )
    return out.stdout.strip().removeprefix("temporal version ") or "unknown"


async def run_cost_bench(
    config: CostConfig, *, command: str, out_dir: Path, progress: Progress = lambda _: None
) -> tuple[Path, Path, dict[str, Any]]:
    """Run `rtw bench cost`; write `cost-<time>.{json,md}` and its figures in latest.json."""
    started = datetime.now(UTC)
    meta: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "command": command,
        "machine": machine(),
        "cpus": os.cpu_count(),
        "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "server": server_version(),
        "repeat": config.repeat,
        "search_attributes": config.search_attributes,
    }
    figures = await run_cost(config, progress=progress)
    meta["bytecode"] = figures.pop("bytecode")
    meta["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    meta["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    result = {"meta": meta, **figures}
    stem = f"cost-{started.strftime('%Y%m%dT%H%M%SZ')}"
    json_path, md_path = write_cost_results(result, out_dir=out_dir, stem=stem)
    return json_path, md_path, result
