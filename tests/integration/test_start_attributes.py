"""An order started by an rtw client is listable by state and customer from its start (the
start carries them, which is not billed), and its saga skips the `authorizing` upsert; an
order started without them (the `temporal` CLI) still gets `authorizing` upserted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.converter import decode_search_attributes
from temporalio.exceptions import ApplicationError

from services.contracts import (
    CUSTOMER_ID_ATTRIBUTE,
    ORDER_SAGA_WORKFLOW,
    ORDER_STATE_ATTRIBUTE,
    OrderInput,
    OrderState,
    OrderStatus,
    TaskQueue,
    order_workflow_id,
)
from services.orchestration.client import start_order
from services.orchestration.worker import orchestration_worker
from services.runtime.config import Settings, TemporalSettings
from services.runtime.connection import connect
from services.runtime.database import open_database
from services.runtime.devserver import DevServer
from tests.integration.helpers import eventually

pytestmark = [
    pytest.mark.integration,
    # The worker evicts runs terminated mid-step: a step's error handling must not run then
    # (it did, and the evicted coroutine failed outside any workflow: an unraisable error).
    pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning"),
]

STATE = SearchAttributeKey.for_keyword(ORDER_STATE_ATTRIBUTE)
CUSTOMER = SearchAttributeKey.for_keyword(CUSTOMER_ID_ATTRIBUTE)


def _order(order_id: str) -> OrderInput:
    return OrderInput.model_validate(
        {
            "order_id": order_id,
            "customer_id": "c-start",
            "currency": "USD",
            "items": [{"sku": "sku-1", "quantity": 1, "unit_price_cents": 1000}],
            "payment_method": "pm_card_visa",
        }
    )


async def _published(handle: WorkflowHandle[object, OrderStatus]) -> tuple[str | None, ...]:
    described = (await handle.describe()).typed_search_attributes
    return described.get(STATE), described.get(CUSTOMER)


async def _upserted_states(handle: WorkflowHandle[object, OrderStatus]) -> list[str]:
    states: list[object] = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            states += decode_search_attributes(fields).get(ORDER_STATE_ATTRIBUTE, [])
    return [str(state) for state in states]


async def _state(handle: WorkflowHandle[object, OrderStatus]) -> OrderState:
    status: OrderStatus = await handle.query(
        "status", result_type=OrderStatus, rpc_timeout=timedelta(seconds=2)
    )
    return status.state


@pytest.fixture
async def orchestration(
    dev_server: DevServer,
    queue_prefix: str,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[Client, str]]:
    """A client and the orchestration queue, served by an in-process orchestration worker
    (unversioned: a versioned worker gets no task until its build is promoted)."""
    monkeypatch.setenv("RTW_QUEUE_PREFIX", queue_prefix)
    monkeypatch.setenv("RTW_DATA_DIR", str(data_dir))
    monkeypatch.setenv("RTW_WORKER_VERSIONING", "false")
    settings = Settings()
    client: Client = await connect(TemporalSettings(address=dev_server.address))
    db = await open_database(settings.database, data_dir=settings.data_dir)
    store = await db.identity()
    async with orchestration_worker(client, settings, db, store) as worker, worker:
        yield client, settings.queue_name(TaskQueue.ORCHESTRATION)
    await db.close()


async def test_the_start_publishes_the_state_and_the_saga_skips_authorizing(
    orchestration: tuple[Client, str], queue_prefix: str
) -> None:
    client, queue = orchestration
    suffix = queue_prefix.strip("-")
    by_rtw = (await start_order(client, _order(f"rtw-{suffix}"), task_queue=queue)).handle
    # As the `temporal` CLI starts one: no search attributes.
    plain = await client.start_workflow(
        ORDER_SAGA_WORKFLOW,
        _order(f"plain-{suffix}"),
        id=order_workflow_id(f"plain-{suffix}"),
        task_queue=queue,
        result_type=OrderStatus,
    )
    # Both run their first task (claim, policy) and wait for the payments queue.
    for handle in (by_rtw, plain):
        await eventually(partial(_state, handle), lambda s: s is OrderState.AUTHORIZING)
    assert await eventually(
        partial(_published, plain), lambda seen: seen == ("authorizing", "c-start")
    )
    # The rtw client's order was listable from its start, and needed no upsert.
    assert await _published(by_rtw) == ("received", "c-start")
    assert await _upserted_states(by_rtw) == []
    assert await _upserted_states(plain) == ["authorizing"]
    for handle in (by_rtw, plain):
        await handle.terminate("test over")


async def test_a_run_the_claim_refuses_takes_back_what_its_start_published(
    orchestration: tuple[Client, str], queue_prefix: str
) -> None:
    """An unknown SKU is refused at the claim: that run is no order, and lists (which show
    runs with a state) must not show it."""
    client, queue = orchestration
    refused = OrderInput.model_validate(
        _order(f"nosku-{queue_prefix.strip('-')}").model_dump()
        | {"items": [{"sku": "no-such-sku", "quantity": 1, "unit_price_cents": 1000}]}
    )
    handle = (await start_order(client, refused, task_queue=queue)).handle
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "InvalidOrder"
    assert await _published(handle) == (None, None)


async def test_a_start_with_a_state_that_is_no_order_state_is_corrected(
    orchestration: tuple[Client, str], queue_prefix: str
) -> None:
    """Any client may start a saga with any keyword; one that is no order state never stops
    the saga, which publishes its real state."""
    client, queue = orchestration
    order = _order(f"bogus-{queue_prefix.strip('-')}")
    handle = await client.start_workflow(
        ORDER_SAGA_WORKFLOW,
        order,
        id=order_workflow_id(order.order_id),
        task_queue=queue,
        result_type=OrderStatus,
        search_attributes=TypedSearchAttributes([SearchAttributePair(STATE, "bogus")]),
    )
    await eventually(partial(_state, handle), lambda s: s is OrderState.AUTHORIZING)
    assert await eventually(
        partial(_published, handle), lambda seen: seen == ("authorizing", "c-start")
    )
    await handle.terminate("test over")
