"""`/webhooks/deliveries`: outbound webhook deliveries, and replaying the failed ones."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from services.gateway.auth_deps import require_token
from services.gateway.context import Gateway, gateway_of
from services.gateway.errors import ApiError
from services.gateway.models import Problem
from services.gateway.orders import ID_PATTERN
from services.webhooks.deliveries import Delivery, DeliveryStore

router = APIRouter(
    prefix="/webhooks/deliveries",
    tags=["webhooks"],
    dependencies=[Depends(require_token)],
    responses={
        401: {"model": Problem, "description": "no or unknown bearer token"},
        503: {"model": Problem, "description": "outbound webhooks are not configured"},
    },
)

GatewayDep = Annotated[Gateway, Depends(gateway_of)]


class DeliveryState(StrEnum):
    """Where a delivery is."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class DeliveryView(BaseModel):
    """One order event for one endpoint."""

    id: int
    endpoint: str
    event_id: str = Field(description="`<order_id>:<seq>`, sent as Rtw-Event-Id")
    order_id: str
    seq: int
    event_type: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    last_error: str | None = None
    last_status: int | None = Field(default=None, description="the endpoint's last HTTP status")
    created_at: datetime
    delivered_at: datetime | None = None


class DeliveryPage(BaseModel):
    """Deliveries, oldest first."""

    deliveries: list[DeliveryView]


class Replayed(BaseModel):
    """Failed deliveries made pending again (the one asked for and the other failed ones of
    its order, so the endpoint still gets them in order)."""

    replayed: list[DeliveryView]


def _store(gateway: Gateway) -> DeliveryStore:
    if gateway.deliveries is None:
        raise ApiError(
            503,
            "WebhooksOff",
            "outbound webhooks are not configured (RTW_WEBHOOK_ENDPOINTS_FILE)",
        )
    return gateway.deliveries


def _view(delivery: Delivery) -> DeliveryView:
    return DeliveryView.model_validate(delivery.as_dict())


@router.get("", response_model=DeliveryPage, summary="Outbound webhook deliveries")
async def list_deliveries(
    gateway: GatewayDep,
    state: Annotated[DeliveryState | None, Query(description="e.g. failed")] = None,
    endpoint: Annotated[
        str | None, Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="endpoint id")
    ] = None,
    order_id: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=128)] = None,
    limit: Annotated[int, Query(gt=0, le=1000)] = 100,
) -> DeliveryPage:
    """Deliveries filtered by state, endpoint and order, oldest first."""
    found = await _store(gateway).listing(
        state=state.value if state else None, endpoint=endpoint, order_id=order_id, limit=limit
    )
    return DeliveryPage(deliveries=[_view(d) for d in found])


@router.post(
    "/{delivery_id}/replay",
    response_model=Replayed,
    summary="Send a failed delivery again (with the other failed ones of its order)",
    responses={404: {"model": Problem, "description": "no failed delivery with this id"}},
)
async def replay_delivery(
    gateway: GatewayDep,
    delivery_id: Annotated[int, Path(ge=1, le=2**62, description="the delivery's id")],
) -> Replayed:
    """Make the failed delivery pending again, with every failed delivery of the same order
    and endpoint; the dispatcher sends them in order, with a fresh window."""
    replayed = await _store(gateway).replay(delivery_id=delivery_id, endpoint=None, order_id=None)
    if not replayed:
        raise ApiError(404, "DeliveryNotFound", f"no failed delivery {delivery_id}")
    return Replayed(replayed=[_view(d) for d in replayed])
