"""Orchestration settings: the order policy and the simulated carrier, from RTW_* variables.

Workflows cannot read the environment (it would break replay): the orchestration worker
reads these once at start-up and hands them to sagas through the `orchestration.order_policy`
local activity, whose result is recorded in each saga's history.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.contracts import OrderPolicy


class OrchestrationSettings(BaseSettings):
    """Knobs of the orchestration service (env prefix `RTW_`)."""

    model_config = SettingsConfigDict(env_prefix="RTW_", extra="ignore", hide_input_in_errors=True)

    approval_threshold_cents: int = Field(
        default=100_000, ge=0, description="orders at or above this total wait for approval"
    )
    approval_timeout_seconds: int = Field(
        default=24 * 3600, gt=0, description="undecided approvals are auto-rejected after this"
    )
    shipment_pickup_sla_seconds: int = Field(
        default=48 * 3600, gt=0, description="no pickup by then → escalation notice"
    )
    shipment_delivery_sla_seconds: int = Field(
        default=14 * 24 * 3600, gt=0, description="not delivered by then → escalation notice"
    )
    simulated_carrier_auto_deliver: bool = Field(
        default=True,
        description="the stand-in carrier reports picked_up, in_transit, delivered right after "
        "booking; false: shipments wait for `carrier_event` signals",
    )

    def order_policy(self) -> OrderPolicy:
        """The policy sagas run under."""
        return OrderPolicy(
            approval_threshold_cents=self.approval_threshold_cents,
            approval_timeout_seconds=self.approval_timeout_seconds,
            shipment_pickup_sla_seconds=self.shipment_pickup_sla_seconds,
            shipment_delivery_sla_seconds=self.shipment_delivery_sla_seconds,
        )
