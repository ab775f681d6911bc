"""A time-skipping rig: the real workflows and orchestration-local activities, stand-ins
for the payments and notifications queues, all on one test's prefixed queues."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from services.contracts import (
    ORDER_SAGA_WORKFLOW,
    SAGA_OUTCOMES,
    STATUS_QUERY,
    OrderPolicy,
    OrderStatus,
    SagaOutcome,
    SagaOutcomes,
    SagaOutcomesRequest,
    TaskQueue,
    queue_name,
)
from services.events import SqliteEvents
from services.orchestration import WORKFLOWS, CarrierActivities, PolicyActivities
from services.orchestration.claims import ClaimActivities, claims_for
from services.orchestration.event_recording import EventActivities
from services.orchestration.inventory_stores import DEFAULT_CATALOG, SqliteInventory
from services.runtime.database import SqliteDatabase
from tests.orchestration.standins import Recorder, StandIns

ORDER: dict[str, Any] = {
    "order_id": "o-1",
    "customer_id": "c-1",
    "currency": "USD",
    "payment_method": "pm_card_visa",
    "items": [{"sku": "sku-1", "quantity": 2, "unit_price_cents": 1500}],
}

#: An order at the default approval threshold (100000 cents): it waits for a decision.
LARGE_ORDER: dict[str, Any] = {
    **ORDER,
    "items": [{"sku": "sku-1", "quantity": 100, "unit_price_cents": 1000}],
}

T = TypeVar("T")


class SagaOutcomeStandIn:
    """`orchestration.saga_outcomes` answering from a dict (default: `missing`)."""

    def __init__(self) -> None:
        self.outcomes: dict[str, str] = {}

    @activity.defn(name=SAGA_OUTCOMES)
    async def saga_outcomes(self, request: SagaOutcomesRequest) -> SagaOutcomes:
        return SagaOutcomes(
            outcomes=[
                SagaOutcome(order_id=o, outcome=self.outcomes.get(o, "missing"))
                for o in request.order_ids
            ]
        )


@dataclass
class SagaRig:
    """A client plus the three workers of one test."""

    env: WorkflowEnvironment
    client: Client
    prefix: str
    rec: Recorder
    standins: StandIns
    outcomes: SagaOutcomeStandIn
    db: SqliteDatabase

    @property
    def orchestration_queue(self) -> str:
        return queue_name(TaskQueue.ORCHESTRATION, prefix=self.prefix)

    async def start(self, order: Any = ORDER, **kwargs: Any) -> WorkflowHandle[Any, OrderStatus]:
        """Start a saga; a dict order gets a unique order id (workflow ids are per order,
        and every test shares one server)."""
        workflow_id = f"order-{uuid.uuid4().hex[:8]}"
        if isinstance(order, dict) and isinstance(order.get("order_id"), str):
            order = {**order, "order_id": f"{order['order_id']}-{uuid.uuid4().hex[:8]}"}
            workflow_id = f"order-{order['order_id']}"
        return await self.client.start_workflow(
            ORDER_SAGA_WORKFLOW,
            order,
            id=workflow_id,
            task_queue=self.orchestration_queue,
            result_type=OrderStatus,
            **kwargs,
        )

    async def run(self, order: Any = ORDER) -> OrderStatus:
        handle = await self.start(order)
        return await handle.result()

    def notices(self, kind: str) -> list[Any]:
        """Notification requests of one kind, in order."""
        return [r for n, _, r in self.rec.calls if n == "notifications.send" and r.kind == kind]


async def eventually(
    probe: Callable[[], Any], check: Callable[[T], bool], *, timeout: float = 20
) -> T:
    """Poll `probe` (sync or async) until `check` holds; return the last value."""
    async with asyncio.timeout(timeout):
        while True:
            value = probe()
            if asyncio.iscoroutine(value):
                value = await value
            if check(value):
                return value  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)


async def saga_state(handle: WorkflowHandle[Any, Any], state: str) -> OrderStatus:
    """Wait until the saga's `status` says `state`."""

    async def probe() -> OrderStatus | None:
        try:
            status: OrderStatus = await handle.query(STATUS_QUERY, result_type=OrderStatus)
        except Exception:
            return None
        return status

    status: OrderStatus = await eventually(
        probe, lambda s: s is not None and s.state.value == state
    )
    return status


@asynccontextmanager
async def saga_rig(
    env: WorkflowEnvironment,
    prefix: str,
    *,
    policy: OrderPolicy | None = None,
    auto_deliver: bool = True,
    workflows: list[type] = WORKFLOWS,
) -> AsyncIterator[SagaRig]:
    """Workers for one test. `auto_deliver`: the simulated carrier reports delivery.
    `workflows`: the orchestration worker's (`UNVERSIONED_WORKFLOWS` on a dev server, whose
    unversioned workers may not run a workflow that declares a versioning behavior)."""
    client = env.client
    claims_db = SqliteDatabase(Path(tempfile.mkdtemp(prefix="rtw-rig-")) / "rtw.sqlite3")
    await claims_db.open()
    catalog = SqliteInventory(claims_db)
    await catalog.seed(DEFAULT_CATALOG)
    rec = Recorder(events=SqliteEvents(claims_db))
    standins = StandIns(rec)
    outcomes = SagaOutcomeStandIn()
    local: list[Callable[..., Any]] = [
        ClaimActivities(store=claims_for(claims_db), catalog=catalog).claim_order,
        PolicyActivities(policy=policy or OrderPolicy()).order_policy,
        CarrierActivities(
            client=client, auto_deliver=auto_deliver, events=SqliteEvents(claims_db)
        ).book_shipment,
        EventActivities(store=SqliteEvents(claims_db)).record_order_events,
        outcomes.saga_outcomes,
    ]
    async with AsyncExitStack() as stack:
        for queue, activities, queue_workflows in (
            (TaskQueue.ORCHESTRATION, [*standins.inventory(), *local], workflows),
            (TaskQueue.PAYMENTS, standins.payments(), []),
            (TaskQueue.NOTIFICATIONS, standins.notifications(), []),
        ):
            await stack.enter_async_context(
                Worker(
                    client,
                    task_queue=queue_name(queue, prefix=prefix),
                    activities=activities,
                    workflows=queue_workflows,
                )
            )
        stack.push_async_callback(claims_db.close)
        yield SagaRig(env, client, prefix, rec, standins, outcomes, claims_db)
