"""`rtw dev` and `rtw demo`: the whole stack on one machine, embedded Temporal by default."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from services.contracts import (
    APPROVE,
    REJECT,
    ApprovalRequest,
    CarrierEvent,
    CarrierEventKind,
    OrderInput,
    OrderItem,
    OrderState,
    OrderStatus,
    ShipmentState,
    TaskQueue,
)
from services.gateway.process import GatewayProcess
from services.gateway.settings import GatewaySettings
from services.orchestration.client import (
    OrderOutcome,
    decide_order,
    order_status,
    send_carrier_event,
    shipment_status,
    start_order,
    wait_for_order,
)
from services.runtime.bytecode import compile_services
from services.runtime.config import Settings
from services.runtime.connection import connect
from services.runtime.database import open_database
from services.runtime.devserver import DevServer, free_port, port_in_use
from services.runtime.local_stack import LocalStack


@contextlib.asynccontextmanager
async def local_stack(
    settings: Settings,
    *,
    port: int,
    ui_port: int | None,
    log_dir: Path | None,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[tuple[str, str | None]]:
    """Temporal (embedded unless TEMPORAL_ADDRESS is set) plus the three worker processes.

    Yields the Temporal address and the Web UI URL (None for an external server).
    """
    server: DevServer | None = None
    address = settings.temporal.address
    ui_url: str | None = None
    if address is None:
        server = DevServer(data_dir=settings.data_dir, port=port, ui_port=ui_port)
        print(f"starting the embedded Temporal dev server on {server.address} ...", flush=True)
        await server.start()
        address, ui_url = server.address, server.ui_url
    # The workers get the data directory as this process resolved it, whatever their cwd.
    worker_env = {
        "RTW_DATA_DIR": str(settings.data_dir),
        **dev_versioning(settings),
        **(env or {}),
    }
    stack = LocalStack(address=address, log_dir=log_dir, env=worker_env)
    try:
        await asyncio.to_thread(compile_services)  # workers load byte-code, not source
        await _prepare_state(settings)
        print("starting workers: " + ", ".join(q.value for q in TaskQueue), flush=True)
        await stack.start()
        yield address, ui_url
    finally:
        codes = await stack.stop()
        print(
            "workers stopped: " + ", ".join(f"{q.value}={code}" for q, code in codes.items()),
            flush=True,
        )
        if server is not None:
            await server.stop()


def dev_versioning(settings: Settings) -> dict[str, str]:
    """A development stack makes each start's build current (the newest code wins), unless
    RTW_PROMOTE_ON_START says otherwise."""
    if "promote_on_start" in settings.versioning.model_fields_set:
        return {}
    return {"RTW_PROMOTE_ON_START": "always"}


async def _prepare_state(settings: Settings) -> None:
    """Say where the workers keep their state, and bring that database up to date: a
    development stack migrates by itself (deployments run `rtw db migrate` on purpose)."""
    db = await open_database(settings.database, data_dir=settings.data_dir, require_current=False)
    try:
        print(f"worker state: {db.backend} {db.where}", flush=True)
        if settings.database.shared and (applied := await db.migrate()):
            print(f"migrated {db.where}: applied {applied}", flush=True)
    finally:
        await db.close()


def _workflows_url(ui_url: str | None, namespace: str) -> str | None:
    return f"{ui_url}/namespaces/{namespace}/workflows" if ui_url else None


def _dev_secret(path: Path, make: Callable[[], str]) -> Path:
    """A development secret file under the data dir, created once (mode 0600)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(make() + "\n", encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def dev_gateway(
    settings: Settings, address: str, *, port: int
) -> AsyncIterator[GatewayProcess | None]:
    """The HTTP gateway as a process, with development token and webhook secret files
    under the data dir unless RTW_GATEWAY_TOKENS_FILE / RTW_WEBHOOK_SECRET_FILE are set."""
    if port_in_use(port):
        print(f"gateway not started: port {port} is taken (use --gateway-port)", flush=True)
        yield None
        return
    configured = GatewaySettings()
    # A development machine's gateway answers this machine only, unless RTW_GATEWAY_HOST says so.
    env = {
        "TEMPORAL_ADDRESS": address,
        "RTW_GATEWAY_HOST": os.environ.get("RTW_GATEWAY_HOST", "127.0.0.1"),
    }
    if configured.tokens_file is None:
        tokens = _dev_secret(settings.data_dir / "gateway-tokens", lambda: secrets.token_hex(16))
        env["RTW_GATEWAY_TOKENS_FILE"] = str(tokens.resolve())
    if configured.webhook_secret_file is None:
        secret = _dev_secret(settings.data_dir / "webhook-secret", lambda: secrets.token_hex(32))
        env["RTW_WEBHOOK_SECRET_FILE"] = str(secret.resolve())
    gateway = GatewayProcess(port=port, health_port=free_port(), env=env)
    print(f"starting the gateway on http://localhost:{port} ...", flush=True)
    await gateway.start()
    try:
        yield gateway
    finally:
        print(f"gateway stopped: {await gateway.stop()}", flush=True)


async def run_dev(settings: Settings, *, port: int, ui_port: int, gateway_port: int = 8000) -> int:
    """Run until SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with (
        local_stack(settings, port=port, ui_port=ui_port, log_dir=None) as (addr, ui),
        dev_gateway(settings, addr, port=gateway_port) as gateway,
    ):
        print(f"\nrtw is running against {addr}.")
        if settings.versioning.worker_versioning:
            for line in await build_report(settings, addr):
                print(line)
        if url := _workflows_url(ui, settings.temporal.namespace):
            print(f"Temporal Web UI: {url}")
        if gateway is not None:
            tokens = gateway.env.get("RTW_GATEWAY_TOKENS_FILE", "RTW_GATEWAY_TOKENS_FILE")
            print(f"Gateway: {gateway.url}/docs (API), {gateway.url}/inbox (approvals);")
            print(f"         bearer token in {tokens}")
        print("Try:  rtw order start --file deploy/examples/order.json --wait")
        print("      rtw order approve ORDER_ID --reviewer you   (orders >= 100000 cents)")
        print("      rtw subscription start --id s-1 --customer c-1 --plan basic")
        print("      rtw schedules apply && rtw schedules list")
        print("The simulated carrier delivers on its own; to drive shipments yourself, run with")
        print("RTW_SIMULATED_CARRIER_AUTO_DELIVER=false and: rtw shipment event ORDER_ID delivered")
        print("Press Ctrl+C to stop.\n", flush=True)
        await stop.wait()
    return 0


async def build_report(settings: Settings, address: str) -> list[str]:
    """Which build the workers run, and the workflows still pinned to earlier builds (after
    a code change they wait for that code; `rtw dev` no longer runs it)."""
    from services.runtime.deployments import targets, view

    build = settings.versioning.resolved_build_id
    client = await connect(settings.temporal.model_copy(update={"address": address}))
    (orchestration,) = [
        t
        for t in targets(settings.versioning, prefix=settings.queue_prefix)
        if t.queue is TaskQueue.ORCHESTRATION
    ]
    found = await view(client, orchestration)
    lines = [f"Workers run build {build} (current: {found.current or 'unversioned'})."]
    stranded = [v for v in found.versions if v.build_id != build and v.open_pinned]
    for version in stranded:
        lines.append(
            f"  {version.open_pinned} workflow(s) pinned to earlier build {version.build_id} "
            "wait for its code; to move them onto this build (they replay on the new code):"
        )
        lines.append(
            "    temporal workflow update-options --versioning-override-behavior auto_upgrade "
            f"--query \"TemporalWorkerDeploymentVersion='{orchestration.deployment}:"
            f"{version.build_id}' AND ExecutionStatus='Running'\""
        )
    return lines


#: The demo plays the carrier itself (to show the signals), so its workers do not.
DEMO_WORKER_ENV = {"RTW_SIMULATED_CARRIER_AUTO_DELIVER": "false"}

Driver = Callable[[Client, OrderInput], Awaitable[None]]


@dataclass(frozen=True)
class DemoCase:
    """One demo order, what the demo does to it while it runs, and where it should end."""

    title: str
    order: OrderInput
    expected: OrderState
    drive: Driver | None = None


async def _until(probe: Callable[[], Awaitable[Any]], *, timeout: float = 15.0) -> Any:
    """Poll `probe` until it returns something truthy (it may raise while not ready)."""
    async with asyncio.timeout(timeout):
        while True:
            with contextlib.suppress(RPCError):
                if found := await probe():
                    return found
            await asyncio.sleep(0.05)


async def _in_state(client: Client, order_id: str, state: OrderState) -> OrderStatus:
    async def probe() -> OrderStatus | None:
        status = await order_status(client, order_id)
        return status if status.state is state else None

    result: OrderStatus = await _until(probe)
    return result


async def deliver(client: Client, order: OrderInput) -> None:
    """Play the carrier: picked up, in transit (sent twice), delivered."""
    await _in_state(client, order.order_id, OrderState.SHIPPING)

    async def booked() -> bool:
        shipment = await shipment_status(client, order.order_id)
        return shipment.state is ShipmentState.AWAITING_PICKUP

    await _until(booked)
    for n, kind in enumerate(
        (CarrierEventKind.PICKED_UP, CarrierEventKind.IN_TRANSIT, CarrierEventKind.DELIVERED)
    ):
        event = CarrierEvent(event_id=f"demo-{n}", event=kind)
        await send_carrier_event(client, order.order_id, event)
        if kind is CarrierEventKind.IN_TRANSIT:  # carriers retry webhooks: a duplicate
            await send_carrier_event(client, order.order_id, event)


def decide(decision: str, reviewer: str, reason: str, then: Driver | None = None) -> Driver:
    """Wait for the approval step, send the `approve`/`reject` update, then `then`."""

    async def drive(client: Client, order: OrderInput) -> None:
        await _in_state(client, order.order_id, OrderState.AWAITING_APPROVAL)
        await decide_order(
            client, order.order_id, decision, ApprovalRequest(reviewer=reviewer, reason=reason)
        )
        if then is not None:
            await then(client, order)

    return drive


def demo_orders(run_id: str) -> list[DemoCase]:
    """Demo orders that show the saga's paths, with the state each should end in."""

    def order(suffix: str, method: str, sku: str, *, quantity: int = 2) -> OrderInput:
        return OrderInput(
            order_id=f"demo-{run_id}-{suffix}",
            customer_id="c-demo",
            currency="USD",
            payment_method=method,
            items=[OrderItem(sku=sku, quantity=quantity, unit_price_cents=1500)],
        )

    return [
        DemoCase(
            "completes, shipment delivered",
            order("ok", "pm_card_visa", "sku-1"),
            OrderState.COMPLETED,
            deliver,
        ),
        DemoCase(
            "card declined",
            order("declined", "pm_card_chargeDeclined", "sku-1"),
            OrderState.COMPENSATED,
        ),
        DemoCase(
            "out of stock",
            order("oos", "pm_card_visa", "sku-discontinued"),
            OrderState.COMPENSATED,
        ),
        DemoCase(
            "large order, approved, delivered",
            order("approved", "pm_card_visa", "sku-2", quantity=80),
            OrderState.COMPLETED,
            decide(APPROVE, "demo-reviewer", "known customer", then=deliver),
        ),
        DemoCase(
            "large order, rejected",
            order("rejected", "pm_card_visa", "sku-2", quantity=90),
            OrderState.REJECTED,
            decide(REJECT, "demo-reviewer", "unusual volume"),
        ),
    ]


def describe(outcome: OrderOutcome) -> str:
    """One readable block per order."""
    if outcome.status is None:
        err = outcome.error
        return f"  failed: {err.type if err else '?'}: {err.message if err else ''}"
    s = outcome.status
    p = s.payment
    lines = [
        f"  state:         {s.state.value}",
        f"  steps done:    {', '.join(s.steps_done) or '-'}",
        f"  compensations: {', '.join(s.compensations_run) or '-'}",
        f"  payment:       authorized {p.authorized_cents}, captured {p.captured_cents}, "
        f"refunded {p.refunded_cents}, voided {p.voided_cents} ({s.currency} cents)",
    ]
    if s.approval is not None and s.approval.decision is not None:
        lines.append(
            f"  approval:      {s.approval.decision.value} by {s.approval.reviewer or '-'}"
            f" ({s.approval.reason or 'no reason'})"
        )
    if s.shipment is not None:
        lines.append(
            f"  shipment:      {s.shipment.workflow_id} {s.shipment.state}"
            f" ({s.shipment.tracking_number or 'no tracking'})"
        )
    if s.failure:
        lines.append(f"  reason:        {s.failure.type}: {s.failure.message}")
    return "\n".join(lines)


async def _run_case(
    client: Client, case: DemoCase, handle: WorkflowHandle[Any, Any]
) -> OrderOutcome:
    if case.drive is not None:
        await case.drive(client, case.order)
    return await wait_for_order(handle)


async def run_demo(settings: Settings, *, port: int, ui_port: int) -> int:
    """Run the demo orders on a fresh local stack; 0 when every order ends as expected."""
    run_id = time.strftime("%Y%m%d-%H%M%S")
    ok = True
    async with local_stack(
        settings,
        port=port,
        ui_port=ui_port,
        log_dir=settings.data_dir / "logs",
        env=DEMO_WORKER_ENV,
    ) as (addr, ui):
        client = await connect(settings.temporal.model_copy(update={"address": addr}))
        queue = settings.queue_name(TaskQueue.ORCHESTRATION)
        cases = demo_orders(run_id)
        started = [await start_order(client, c.order, task_queue=queue) for c in cases]
        outcomes = await asyncio.gather(
            *(_run_case(client, c, s.handle) for c, s in zip(cases, started, strict=True))
        )
        print()
        for case, outcome in zip(cases, outcomes, strict=True):
            got = outcome.status.state if outcome.status else None
            mark = "ok" if got is case.expected else f"UNEXPECTED (wanted {case.expected.value})"
            print(
                f"order {case.order.order_id} ({case.title}) -> "
                f"{got.value if got else 'failed'} {mark}"
            )
            print(describe(outcome))
            ok = ok and got is case.expected
        print()
        if url := _workflows_url(ui, settings.temporal.namespace):
            print(f"Temporal Web UI: {url}  (run `rtw dev` to browse these workflows)")
        print(f"Ledger:  rtw payments ledger --order-id {cases[0].order.order_id}")
        print(
            f"Outbox:  rtw notifications outbox --order-id {cases[0].order.order_id}\n", flush=True
        )
    return 0 if ok else 1
