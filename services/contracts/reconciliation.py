"""Reconciliation contract: the scheduled `Reconciliation` workflow and its activities."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

RECONCILIATION_WORKFLOW = "Reconciliation"

#: Orchestration-local activity: how did the sagas of these orders end?
SAGA_OUTCOMES = "orchestration.saga_outcomes"

#: Schedule id (under the deployment's queue prefix) of the daily reconciliation.
RECONCILIATION_SCHEDULE = "reconciliation-daily"


class ReconciliationInput(BaseModel):
    """What to look at: ledger entries from the last `lookback_hours`; captures older than
    `grace_minutes`, and authorizations older than `authorization_max_age_minutes` (longer
    than the approval timeout, so an order waiting for a reviewer is not reported)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lookback_hours: int = Field(default=72, gt=0)
    grace_minutes: int = Field(default=60, ge=0)
    authorization_max_age_minutes: int = Field(default=25 * 60, ge=0)


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


class DanglingAuthorization(BaseModel):
    """Money held on a card (authorized, neither captured nor voided) past its deadline, for
    an order whose saga is no longer running to release it."""

    order_id: str
    idempotency_key: str
    currency: str
    amount_cents: int
    authorized_at: str
    saga_outcome: str


class ReconciliationReport(BaseModel):
    """Result of a reconciliation run."""

    checked_orders: int
    orphaned: list[OrphanedCharge] = Field(default_factory=list)
    dangling: list[DanglingAuthorization] = Field(default_factory=list)
    alert_sent: bool = False
