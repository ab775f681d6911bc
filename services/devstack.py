"""`rtw dev` and `rtw demo`: the whole stack on one machine, embedded Temporal by default."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

from services.contracts import OrderInput, OrderItem, OrderState, TaskQueue
from services.orchestration.client import OrderOutcome, start_order, wait_for_order
from services.runtime.config import Settings
from services.runtime.connection import connect
from services.runtime.devserver import DevServer
from services.runtime.local_stack import LocalStack


@contextlib.asynccontextmanager
async def local_stack(
    settings: Settings, *, port: int, ui_port: int | None, log_dir: Path | None
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
    stack = LocalStack(address=address, log_dir=log_dir)
    try:
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


def _workflows_url(ui_url: str | None, namespace: str) -> str | None:
    return f"{ui_url}/namespaces/{namespace}/workflows" if ui_url else None


async def run_dev(settings: Settings, *, port: int, ui_port: int) -> int:
    """Run until SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with local_stack(settings, port=port, ui_port=ui_port, log_dir=None) as (addr, ui):
        print(f"\nrtw is running against {addr}.")
        if url := _workflows_url(ui, settings.temporal.namespace):
            print(f"Temporal Web UI: {url}")
        print("Try:  rtw order start --file deploy/examples/order.json --wait")
        print("Press Ctrl+C to stop.\n", flush=True)
        await stop.wait()
    return 0


def demo_orders(run_id: str) -> list[tuple[str, OrderInput, OrderState]]:
    """Three orders that show the saga's paths, with the state each should end in."""

    def order(suffix: str, method: str, sku: str) -> OrderInput:
        return OrderInput(
            order_id=f"demo-{run_id}-{suffix}",
            customer_id="c-demo",
            currency="USD",
            payment_method=method,
            items=[OrderItem(sku=sku, quantity=2, unit_price_cents=1500)],
        )

    return [
        ("completes", order("ok", "pm_card_visa", "sku-1"), OrderState.COMPLETED),
        (
            "card declined",
            order("declined", "pm_card_chargeDeclined", "sku-1"),
            OrderState.COMPENSATED,
        ),
        ("out of stock", order("oos", "pm_card_visa", "sku-discontinued"), OrderState.COMPENSATED),
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
    if s.failure:
        lines.append(f"  reason:        {s.failure.type}: {s.failure.message}")
    return "\n".join(lines)


async def run_demo(settings: Settings, *, port: int, ui_port: int) -> int:
    """Run the demo orders on a fresh local stack; 0 when every order ends as expected."""
    run_id = time.strftime("%Y%m%d-%H%M%S")
    ok = True
    async with local_stack(
        settings, port=port, ui_port=ui_port, log_dir=settings.data_dir / "logs"
    ) as (addr, ui):
        client = await connect(settings.temporal.model_copy(update={"address": addr}))
        queue = settings.queue_name(TaskQueue.ORCHESTRATION)
        cases = demo_orders(run_id)
        started = [await start_order(client, o, task_queue=queue) for _, o, _ in cases]
        outcomes = await asyncio.gather(*(wait_for_order(s.handle) for s in started))
        print()
        for (title, order, expected), outcome in zip(cases, outcomes, strict=True):
            got = outcome.status.state if outcome.status else None
            mark = "ok" if got is expected else f"UNEXPECTED (wanted {expected.value})"
            print(f"order {order.order_id} ({title}) -> {got.value if got else 'failed'} {mark}")
            print(describe(outcome))
            ok = ok and got is expected
        print()
        if url := _workflows_url(ui, settings.temporal.namespace):
            print(f"Temporal Web UI: {url}  (run `rtw dev` to browse these workflows)")
        print(f"Ledger:  rtw payments ledger --order-id {cases[0][1].order_id}")
        print(f"Outbox:  {settings.outbox_path}\n", flush=True)
    return 0 if ok else 1
