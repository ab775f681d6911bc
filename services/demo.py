"""`rtw demo`: five orders through the saga's paths on a fresh local stack, then stop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from services.contracts import (
    APPROVE,
    REJECT,
    ApprovalRequest,
    CarrierEvent,
    CarrierEventKind,
    FailureInfo,
    OrderInput,
    OrderItem,
    OrderState,
    OrderStatus,
    ShipmentState,
    TaskQueue,
)
from services.devstack import local_stack, stop_signals, workflows_url
from services.orchestration.client import (
    OrderOutcome,
    decide_order,
    order_status,
    send_carrier_event,
    shipment_status,
    start_order,
    wait_for_order,
)
from services.runtime.config import Settings
from services.runtime.connection import connect
from services.runtime.invocation import rtw_command
from services.runtime.stop_signals import StopSignals

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


#: How long the demo waits for an order to reach the state its driver acts on.
DRIVE_TIMEOUT_SECONDS = 15.0


async def _run_case(
    client: Client, case: DemoCase, handle: WorkflowHandle[Any, Any]
) -> OrderOutcome:
    if case.drive is not None:
        try:
            await case.drive(client, case.order)
        except TimeoutError:
            # Say so in the demo's report and leave nothing open behind (no traceback).
            with contextlib.suppress(RPCError):
                await handle.terminate("rtw demo gave up waiting for it")
            return OrderOutcome(
                handle.id,
                None,
                FailureInfo(
                    type="DemoTimeout",
                    message=f"the order did not reach the step the demo drives within "
                    f"{DRIVE_TIMEOUT_SECONDS:g} s (see {handle.id} in the Web UI)",
                ),
            )
    return await wait_for_order(handle)


def demo_settings(settings: Settings) -> Settings:
    """The demo's own task queues (`demo-orchestration`, …, after any RTW_QUEUE_PREFIX): a
    stack already serving the server's usual queues never takes the demo's orders."""
    return settings.model_copy(update={"queue_prefix": f"demo-{settings.queue_prefix}"})


async def _run_orders(settings: Settings, *, port: int, ui_port: int, signals: StopSignals) -> int:
    run_id = time.strftime("%Y%m%d-%H%M%S")
    ok = True
    rtw = rtw_command()
    print("demo task queues: " + ", ".join(settings.queue_name(q) for q in TaskQueue), flush=True)
    async with local_stack(
        settings,
        port=port,
        ui_port=ui_port,
        log_dir=settings.data_dir / "logs",
        env=DEMO_WORKER_ENV,
        signals=signals,
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
        if url := workflows_url(ui, settings.temporal.namespace):
            print(f"Temporal Web UI: {url}  (`{rtw} dev` serves it again to browse these)")
        first = cases[0].order.order_id
        print(f"Ledger:  {rtw} payments ledger --order-id {first}")
        print(f"Outbox:  {rtw} notifications outbox --order-id {first}\n", flush=True)
    return 0 if ok else 1


async def run_demo(settings: Settings, *, port: int, ui_port: int) -> int:
    """Run the demo orders on a fresh local stack; 0 when every order ends as expected,
    130 when Ctrl+C (or SIGTERM) stopped it first (the workers still drain and exit 0)."""
    settings = demo_settings(settings)
    signals = stop_signals(settings)
    code = await signals.run(_run_orders(settings, port=port, ui_port=ui_port, signals=signals))
    if code is None:
        print(f"demo interrupted ({signals.received})", flush=True)
        return 130
    return code
