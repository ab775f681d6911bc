"""Test-only workflows: a continue-as-new loop (also started by a Schedule)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow


class LoopInput(BaseModel):
    """How many more runs; `order_id` and `amount_cents` land on spans as business context."""

    order_id: str
    amount_cents: int
    runs_left: int


@activity.defn(name="test.tick")
async def tick(request: LoopInput) -> LoopInput:
    """One unit of work per run."""
    return request


@workflow.defn(name="TraceLoop")
class TraceLoop:
    """Runs one activity, then continues as new until no runs are left."""

    @workflow.run
    async def run(self, request: LoopInput) -> int:
        await workflow.execute_activity(tick, request, start_to_close_timeout=timedelta(seconds=10))
        if request.runs_left > 0:
            workflow.continue_as_new(
                request.model_copy(update={"runs_left": request.runs_left - 1})
            )
        return request.runs_left
