"""Subscription contract: the long-running `Subscription` workflow, its updates and models."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

SUBSCRIPTION_WORKFLOW = "Subscription"
CHANGE_PLAN = "change_plan"
CANCEL = "cancel"

#: Error type of a refused `change_plan` / `cancel` update.
SUBSCRIPTION_REFUSED = "SubscriptionRefused"

#: Monthly price of each plan, in minor units of the subscription's currency.
PLAN_PRICES_CENTS: dict[str, int] = {"basic": 900, "standard": 1900, "premium": 4900}

Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


def subscription_workflow_id(subscription_id: str) -> str:
    """Workflow id of a subscription: one workflow (chain of runs) per subscription."""
    return f"subscription-{subscription_id}"


def _known_plan(value: str) -> str:
    if value not in PLAN_PRICES_CENTS:
        raise ValueError(f"unknown plan {value!r}; expected one of {sorted(PLAN_PRICES_CENTS)}")
    return value


class SubscriptionState(StrEnum):
    """Where a subscription is."""

    ACTIVE = "active"
    PAST_DUE = "past_due"  # a charge was declined; dunning retries run
    SUSPENDED = "suspended"  # dunning gave up
    CANCELLED = "cancelled"


class ChargeRecord(BaseModel):
    """One billing cycle's outcome."""

    cycle: int
    plan: str
    amount_cents: int
    attempts: int
    charged: bool
    at: datetime


class SubscriptionCarry(BaseModel):
    """State handed from one run to the next across continue-as-new."""

    plan: str
    pending_plan: str | None = None
    cycles_billed: int
    next_billing_at: datetime
    started_at: datetime
    runs: int
    history: list[ChargeRecord] = Field(default_factory=list)


class SubscriptionInput(BaseModel):
    """Subscription input; plain JSON with the first five fields works from any client."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subscription_id: Identifier
    customer_id: Identifier
    plan: str
    currency: str = "USD"
    payment_method: Identifier
    dunning_retry_days: list[int] = Field(default=[1, 3, 7], max_length=10)
    cycles_per_run: int = Field(default=12, gt=0, le=120)
    carry: SubscriptionCarry | None = None

    @field_validator("plan")
    @classmethod
    def _plan_known(cls, value: str) -> str:
        return _known_plan(value)

    @field_validator("currency")
    @classmethod
    def _currency_upper(cls, value: str) -> str:
        return value.strip().upper()


class ChangePlanRequest(BaseModel):
    """Payload of `change_plan`: the plan to bill from the next cycle on."""

    plan: str


class CancelRequest(BaseModel):
    """Payload of `cancel`."""

    reason: str = ""


class SubscriptionStatus(BaseModel):
    """Answer of the subscription's `status` query, and its result."""

    subscription_id: str
    workflow_id: str
    customer_id: str
    state: SubscriptionState
    plan: str
    pending_plan: str | None = None
    currency: str
    cycles_billed: int = 0
    next_billing_at: datetime | None = None
    dunning_attempt: int = 0
    runs: int = 1
    history: list[ChargeRecord] = Field(default_factory=list)
    cancel_reason: str | None = None
