"""Carrier webhooks: signed (HMAC-SHA256, Stripe's scheme), each one a `carrier_event`."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ValidationError

from services.contracts import CarrierEvent
from services.gateway.context import Gateway, gateway_of
from services.gateway.errors import ApiError, temporal_call
from services.gateway.models import CarrierWebhook, Problem, WebhookAccepted
from services.gateway.problems import field_errors, validation_detail
from services.gateway.signing import SIGNATURE_HEADER, SignatureError, verify
from services.orchestration.client import send_carrier_event

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

#: Largest webhook body read (a carrier event is a few hundred bytes).
MAX_BODY_BYTES = 64 * 1024


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`model`'s JSON schema with its `$defs` inlined (no dangling local references)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


@router.post(
    "/carrier",
    status_code=202,
    response_model=WebhookAccepted,
    summary="A carrier event for an order's shipment (signed)",
    openapi_extra={
        "parameters": [
            {
                "name": SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
                "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<raw body>'>",
            }
        ],
        # Documented here, parsed by hand: the signature covers the raw bytes, so the body
        # is read and validated only after the signature is checked.
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(CarrierWebhook)}},
        },
    },
    responses={
        401: {"model": Problem, "description": "missing, bad or expired signature"},
        404: {"model": Problem, "description": "the order has no shipment (yet)"},
        413: {"model": Problem, "description": "body too large"},
        422: {"model": Problem, "description": "not a carrier event"},
        503: {"model": Problem, "description": "webhooks not configured, or Temporal down"},
    },
)
async def carrier_webhook(
    request: Request,
    gateway: Annotated[Gateway, Depends(gateway_of)],
) -> WebhookAccepted:
    """Check the signature first (a bad one never reaches Temporal), then signal the
    event to `shipment-<order_id>`, which applies each `event_id` once."""
    if gateway.webhook_secret is None:
        raise ApiError(503, "WebhooksOff", "no webhook secret configured (RTW_WEBHOOK_SECRET_FILE)")
    # At most MAX_BODY_BYTES: BodyLimitMiddleware answers 413 past it, whatever the encoding.
    body = await request.body()
    try:
        verify(
            gateway.webhook_secret,
            body,
            request.headers.get(SIGNATURE_HEADER),
            tolerance=gateway.settings.webhook_tolerance_seconds,
        )
    except SignatureError as exc:
        logger.warning("carrier webhook refused: %s", exc)
        raise ApiError(401, "BadSignature", str(exc)) from None
    try:
        event = CarrierWebhook.model_validate_json(body)
    except ValidationError as exc:
        errors = field_errors(exc.errors(), prefix=("body",))
        raise ApiError(422, "InvalidEvent", validation_detail(errors), errors=errors) from None
    async with temporal_call(gateway.settings.request_timeout_seconds, order_id=event.order_id):
        await send_carrier_event(
            gateway.client, event.order_id, CarrierEvent(event_id=event.event_id, event=event.event)
        )
    return WebhookAccepted(order_id=event.order_id, event_id=event.event_id)
