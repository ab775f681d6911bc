"""The saga upserts `RtwOrderState`/`RtwCustomerId` only when its policy says the namespace
has them. (The time-skipping server has no such attributes, so the upserts themselves are
exercised on the dev server: tests/gateway and the replayed history order_approved_listed.)"""

from __future__ import annotations

from temporalio.client import WorkflowHandle
from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment

from services.contracts import (
    APPROVE,
    CUSTOMER_ID_ATTRIBUTE,
    ORDER_STATE_ATTRIBUTE,
    ApprovalRequest,
)
from tests.orchestration.rig import LARGE_ORDER, saga_rig, saga_state

STATE = SearchAttributeKey.for_keyword(ORDER_STATE_ATTRIBUTE)
CUSTOMER = SearchAttributeKey.for_keyword(CUSTOMER_ID_ATTRIBUTE)


async def attributes(handle: WorkflowHandle[object, object]) -> tuple[str | None, str | None]:
    described = (await handle.describe()).typed_search_attributes
    return described.get(STATE), described.get(CUSTOMER)


async def test_without_the_policy_flag_nothing_is_upserted(
    time_skipping_env: WorkflowEnvironment, queue_prefix: str
) -> None:
    async with saga_rig(time_skipping_env, queue_prefix) as rig:
        handle = await rig.start(LARGE_ORDER)
        await saga_state(handle, "awaiting_approval")
        assert await attributes(handle) == (None, None)
        await handle.execute_update(APPROVE, ApprovalRequest(reviewer="alice"))
        await handle.result()
