"""Reconciliation contract: the scheduled `Reconciliation` workflow and its activities."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

RECONCILIATION_WORKFLOW = "Reconciliation"

#: Orchestration-local activity: how did the sagas of these orders end?
SAGA_OUTCOMES = "orchestration.saga_outcomes"

#: Schedule id (under the deployment's queue prefix) of the daily reconciliation.
RECONCILIATION_SCHEDULE = "reconciliation-daily"


class ReconciliationInput(BaseModel):
    """What to look at: captures from the last `lookback_hours`, older than `grace_minutes`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lookback_hours: int = Field(default=72, gt=0)
    grace_minutes: int = Field(default=60, ge=0)


class SagaOutcomesRequest(BaseModel):
    """The orders to look up."""

    order_ids: list[str]


class SagaOutcome(BaseModel):
    """How one order's saga stands: `missing`, `running`, or its final order state
    (`completed`, `compensated`, …) or execution status (`terminated`, `timed_out`, …)."""

    order_id: str
    outcome: str


class SagaOutcomes(BaseModel):
    """Answer of `orchestration.saga_outcomes`."""

    outcomes: list[SagaOutcome] = Field(default_factory=list)


class OrphanedCharge(BaseModel):
    """Money captured for an order whose saga neither completed nor refunded it."""

    order_id: str
    currency: str
    captured_cents: int
    refunded_cents: int
    saga_outcome: str


class ReconciliationReport(BaseModel):
    """Result of a reconciliation run."""

    checked_orders: int
    orphaned: list[OrphanedCharge] = Field(default_factory=list)
    alert_sent: bool = False
