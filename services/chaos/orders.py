"""The order mix a chaos or scale run sends, and the driver that carries each to its end."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import CancelledError
from temporalio.service import RPCError, RPCStatusCode

from services.contracts import (
    APPROVE,
    REJECT,
    STATUS_QUERY,
    ApprovalRequest,
    ApprovalResult,
    OrderInput,
    OrderState,
    OrderStatus,
)
from services.orchestration.client import order_handle, start_order

logger = logging.getLogger(__name__)

#: The scarce SKU: the store seeds 5 units of it.
LIMITED_SKU = "sku-limited"
LIMITED_STOCK = 5


class OrderKind(StrEnum):
    """What an order of the mix exercises."""

    HAPPY = "happy"
    DECLINED = "declined"
    LIMITED = "limited"  # 2 units of the scarce SKU: some complete, the rest are out of stock
    APPROVED = "approved"
    REJECTED = "rejected"


#: Final states each kind may end in (anything else is an unexpected outcome).
EXPECTED: dict[OrderKind, frozenset[OrderState]] = {
    OrderKind.HAPPY: frozenset({OrderState.COMPLETED}),
    OrderKind.DECLINED: frozenset({OrderState.COMPENSATED}),
    OrderKind.LIMITED: frozenset({OrderState.COMPLETED, OrderState.COMPENSATED}),
    OrderKind.APPROVED: frozenset({OrderState.COMPLETED}),
    OrderKind.REJECTED: frozenset({OrderState.REJECTED}),
}

#: The mix, by weight.
MIX: dict[OrderKind, int] = {
    OrderKind.HAPPY: 5,
    OrderKind.DECLINED: 2,
    OrderKind.LIMITED: 2,
    OrderKind.APPROVED: 1,
    OrderKind.REJECTED: 1,
}


def make_order(kind: OrderKind, order_id: str) -> OrderInput:
    """One order of a kind."""
    item: dict[str, Any] = {"sku": "sku-1", "quantity": 2, "unit_price_cents": 1500}
    method = "pm_card_visa"
    if kind is OrderKind.DECLINED:
        method = "pm_card_chargeDeclined"
    elif kind is OrderKind.LIMITED:
        item = {"sku": LIMITED_SKU, "quantity": 2, "unit_price_cents": 2500}
    elif kind in (OrderKind.APPROVED, OrderKind.REJECTED):
        item = {"sku": "sku-2", "quantity": 1, "unit_price_cents": 150_000}
    return OrderInput.model_validate(
        {
            "order_id": order_id,
            "customer_id": f"c-{order_id}",
            "currency": "USD",
            "payment_method": method,
            "items": [item],
        }
    )


def order_mix(count: int, *, run_id: str, rng: random.Random) -> list[tuple[OrderKind, OrderInput]]:
    """`count` orders drawn from the mix (every kind at least once when count allows)."""
    kinds = list(MIX)
    weights = [MIX[k] for k in kinds]
    drawn = kinds[: min(count, len(kinds))] + rng.choices(
        kinds, weights, k=max(0, count - len(kinds))
    )
    rng.shuffle(drawn)
    return [(kind, make_order(kind, f"{run_id}-{i:04d}")) for i, kind in enumerate(drawn)]


@dataclass
class Outcome:
    """How one order ended, as the driver saw it."""

    order_id: str
    kind: OrderKind
    total_cents: int
    state: OrderState | None = None
    failure: str | None = None
    closed: bool = False
    #: The driver asked to cancel this order (it may have ended before the cancel landed).
    cancel_requested: bool = False

    @property
    def expected(self) -> frozenset[OrderState]:
        """Final states this order may end in: its kind's, or `cancelled` once asked."""
        states = EXPECTED[self.kind]
        return states | {OrderState.CANCELLED} if self.cancel_requested else states


async def _decide(client: Client, order: OrderInput, kind: OrderKind, deadline: float) -> None:
    """Approve or reject a large order once it waits, through worker kills and restarts."""
    handle = order_handle(client, order.order_id)
    name = APPROVE if kind is OrderKind.APPROVED else REJECT
    loop = asyncio.get_running_loop()
    while loop.time() < deadline:
        try:
            status: OrderStatus = await handle.query(STATUS_QUERY, result_type=OrderStatus)
            if status.state is OrderState.AWAITING_APPROVAL:
                await handle.execute_update(
                    name, ApprovalRequest(reviewer="chaos", reason=kind.value),
                    result_type=ApprovalResult,
                )  # fmt: skip
                return
            if status.approval is not None and status.approval.decision is not None:
                return
        except Exception as exc:  # worker or server away for a moment: try again
            logger.debug("decision for %s not yet taken: %s", order.order_id, exc)
        await asyncio.sleep(0.3)


async def _cancel_after(client: Client, order: OrderInput, delay: float) -> None:
    """Cancel the order `delay` seconds from now, through server restarts."""
    await asyncio.sleep(delay)
    for _ in range(20):
        try:
            await order_handle(client, order.order_id).cancel()
            return
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                return
            logger.debug("cancel of %s not yet sent: %s", order.order_id, exc)
            await asyncio.sleep(0.5)


async def drive(
    client: Client,
    kind: OrderKind,
    order: OrderInput,
    *,
    task_queue: str,
    deadline: float,
    cancel_after: float | None = None,
) -> Outcome:
    """Start one order, decide it when it needs a reviewer, wait for its end (or deadline).
    With `cancel_after`, cancel it that many seconds after its start (after the decision
    for an order that waits for one)."""
    outcome = Outcome(order.order_id, kind, order.total_cents)
    loop = asyncio.get_running_loop()
    while True:
        try:
            started = await start_order(client, order, task_queue=task_queue)
            break
        except RPCError as exc:  # the server is restarting
            if loop.time() > deadline:
                outcome.failure = f"not started: {exc.message}"
                return outcome
            await asyncio.sleep(0.5)
    if kind in (OrderKind.APPROVED, OrderKind.REJECTED):
        await _decide(client, order, kind, deadline)
    if cancel_after is not None:
        outcome.cancel_requested = True
        await _cancel_after(client, order, cancel_after)
    while loop.time() < deadline:
        try:
            result: OrderStatus = await asyncio.wait_for(
                started.handle.result(), timeout=max(1.0, deadline - loop.time())
            )
            outcome.state, outcome.closed = result.state, True
            return outcome
        except WorkflowFailureError as err:
            cancelled = isinstance(err.cause, CancelledError)
            outcome.state = OrderState.CANCELLED if cancelled else OrderState.FAILED
            outcome.closed = True
            outcome.failure = None if cancelled else str(err.cause or err)
            return outcome
        except TimeoutError:
            break
        except RPCError:  # server restarting: keep waiting
            await asyncio.sleep(0.5)
    return outcome
