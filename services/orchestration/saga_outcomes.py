"""Orchestration-local activity: how did the sagas of some orders end (via the client)."""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from services.contracts import (
    SAGA_OUTCOMES,
    OrderStatus,
    SagaOutcome,
    SagaOutcomes,
    SagaOutcomesRequest,
    order_workflow_id,
)

#: Sagas described at once by the outcomes activity.
LOOKUP_CONCURRENCY = 16


class ReconciliationActivities:
    """Reads saga outcomes through the Temporal client (orchestration-local)."""

    def __init__(self, *, client: Client) -> None:
        self._client = client

    async def _outcome(self, order_id: str) -> SagaOutcome:
        handle = self._client.get_workflow_handle(
            order_workflow_id(order_id), result_type=OrderStatus
        )
        try:
            desc = await handle.describe()
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                return SagaOutcome(order_id=order_id, outcome="missing")
            raise
        if desc.status is WorkflowExecutionStatus.RUNNING:
            return SagaOutcome(order_id=order_id, outcome="running")
        if desc.status is WorkflowExecutionStatus.COMPLETED:
            try:
                result = await handle.result(follow_runs=False)
            except WorkflowFailureError:  # pragma: no cover - status said completed
                return SagaOutcome(order_id=order_id, outcome="failed")
            return SagaOutcome(order_id=order_id, outcome=result.state.value)
        name = desc.status.name.lower() if desc.status else "unknown"
        return SagaOutcome(order_id=order_id, outcome=name)

    @activity.defn(name=SAGA_OUTCOMES)
    async def saga_outcomes(self, request: SagaOutcomesRequest) -> SagaOutcomes:
        """How each order's saga stands: missing, running, or how it ended."""
        limit = asyncio.Semaphore(LOOKUP_CONCURRENCY)

        async def one(order_id: str) -> SagaOutcome:
            async with limit:
                return await self._outcome(order_id)

        outcomes = await asyncio.gather(*(one(o) for o in request.order_ids))
        return SagaOutcomes(outcomes=list(outcomes))
