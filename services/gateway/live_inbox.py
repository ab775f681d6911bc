"""The live inbox and the order page: server-rendered, kept current by EventSource.

`GET /inbox/events` is the inbox's own stream (signed-in reviewers only): a `snapshot` of the
orders waiting for a decision when it opens, read from the order events (no visibility lag),
then `waiting` for each order that starts to wait and `left` for each that stops (decided,
expired, cancelled), as the events are recorded. `GET /inbox/orders/{id}` renders an order's
timeline from its events; the page follows `GET /orders/{id}/events` for what comes next.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from services.contracts import OrderEventType
from services.events.store import EventStore, StoredEvent
from services.gateway.context import Gateway, gateway_of
from services.gateway.events_hub import CLOSED, RESYNC, EventHub
from services.gateway.inbox import _reviewer, templates
from services.gateway.order_events import STREAM_HEADERS
from services.gateway.orders import ID_PATTERN
from services.gateway.sse import comment, named, retry

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/inbox", include_in_schema=False)
GatewayDep = Annotated[Gateway, Depends(gateway_of)]

#: How each event reads on the order page.
LABELS = {
    OrderEventType.RECEIVED: "Order received",
    OrderEventType.AUTHORIZED: "Payment authorized",
    OrderEventType.RESERVED: "Stock reserved",
    OrderEventType.AWAITING_APPROVAL: "Waiting for approval",
    OrderEventType.APPROVED: "Approved",
    OrderEventType.REJECTED_BY_REVIEWER: "Rejected by a reviewer",
    OrderEventType.APPROVAL_EXPIRED: "Approval expired",
    OrderEventType.CAPTURED: "Payment captured",
    OrderEventType.SHIPPING: "Shipping",
    OrderEventType.PICKED_UP: "Carrier: picked up",
    OrderEventType.IN_TRANSIT: "Carrier: in transit",
    OrderEventType.DELIVERED: "Carrier: delivered",
    OrderEventType.LOST: "Carrier: parcel lost",
    OrderEventType.COMPENSATING: "Compensating",
    OrderEventType.RELEASED: "Compensation: stock released",
    OrderEventType.VOIDED: "Compensation: authorization voided",
    OrderEventType.REFUNDED: "Compensation: payment refunded",
    OrderEventType.FAILURE_NOTIFIED: "Compensation: customer notified",
    OrderEventType.COMPLETED: "Completed",
    OrderEventType.COMPENSATED: "Compensated",
    OrderEventType.REJECTED: "Rejected",
    OrderEventType.CANCELLED: "Cancelled",
    OrderEventType.FAILED: "Failed",
}


def _money(cents: object, currency: object) -> str | None:
    if not isinstance(cents, int) or not isinstance(currency, str):
        return None
    return f"{cents / 100:,.2f} {currency}"


def _minutes(since: datetime, now: datetime) -> str:
    minutes = int((now - since).total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours < 48 else f"{hours // 24} days"


async def waiting_row(store: EventStore, waiting: StoredEvent) -> dict[str, Any]:
    """The inbox row of an order waiting for approval, from its events."""
    order_id = waiting.event.order_id
    received = next(iter(await store.after(order_id, 0, limit=1)), None)
    data = received.event.data if received is not None else {}
    deadline = waiting.event.data.get("deadline")
    started = received.event.occurred_at if received is not None else waiting.event.occurred_at
    return {
        "order_id": order_id,
        "customer_id": data.get("customer_id"),
        "amount": _money(data.get("total_cents"), data.get("currency")),
        "age": _minutes(started, datetime.now(UTC)),
        "deadline": datetime.fromisoformat(deadline).strftime("%Y-%m-%d %H:%M")
        if isinstance(deadline, str)
        else None,
        "seq": waiting.event.seq,
    }


async def _inbox_frames(hub: EventHub, keepalive: float) -> AsyncIterator[str]:
    sub = hub.subscribe(None)
    try:
        yield retry()
        waiting: dict[str, int] = {}
        resync = True
        while True:
            if resync:
                resync = False
                rows = [
                    await waiting_row(hub.store, w) for w in await hub.store.awaiting_approval()
                ]
                waiting = {row["order_id"]: row["seq"] for row in rows}
                yield named("snapshot", rows)
            try:
                item = await asyncio.wait_for(sub.queue.get(), timeout=keepalive)
            except TimeoutError:
                yield comment("keep-alive")
                continue
            if item == CLOSED:
                return
            if item == RESYNC or isinstance(item, str):
                resync = True
                continue
            event = item.event
            if event.type is OrderEventType.AWAITING_APPROVAL:
                row = await waiting_row(hub.store, item)
                waiting[event.order_id] = event.seq
                yield named("waiting", row)
            elif event.order_id in waiting and event.seq > waiting[event.order_id]:
                del waiting[event.order_id]
                yield named("left", {"order_id": event.order_id, "type": event.type.value})
    finally:
        hub.unsubscribe(sub)


@router.get("/events")
async def inbox_events(request: Request, gateway: GatewayDep) -> Response:
    """The inbox's live stream (see the module docstring); 401 without a reviewer session."""
    if _reviewer(request, gateway) is None:
        return Response(status_code=401)
    if gateway.hub is None:
        return Response(status_code=204)  # events off: the page stays as rendered
    frames = _inbox_frames(gateway.hub, gateway.settings.events_keepalive_seconds)
    return StreamingResponse(frames, media_type="text/event-stream", headers=STREAM_HEADERS)


def timeline_item(stored: StoredEvent) -> dict[str, Any]:
    """One line of the order page."""
    event = stored.event
    details = ", ".join(f"{k}: {v}" for k, v in sorted(event.data.items()) if k != "items")
    return {
        "seq": event.seq,
        "type": event.type.value,
        "label": LABELS.get(event.type, event.type.value),
        "at": event.occurred_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "details": details,
        "final": event.final,
    }


@router.get("/orders/{order_id}", response_class=HTMLResponse)
async def order_page(request: Request, order_id: str, gateway: GatewayDep) -> Response:
    """An order's timeline (read-only), kept current while it runs."""
    reviewer = _reviewer(request, gateway)
    if reviewer is None:
        return RedirectResponse("/inbox", status_code=303)
    if not re.match(ID_PATTERN, order_id) or gateway.events is None:
        return templates.TemplateResponse(
            request,
            "order.html",
            {"order_id": None, "items": [], "reviewer": reviewer.name, "last": 0, "ended": True},
            status_code=404,
        )
    stored = await gateway.events.after(order_id, 0)
    items = [timeline_item(s) for s in stored]
    ended = bool(items) and items[-1]["final"]
    return templates.TemplateResponse(
        request,
        "order.html",
        {
            "order_id": order_id,
            "items": items,
            "reviewer": reviewer.name,
            "last": items[-1]["seq"] if items else 0,
            "ended": ended,
            "labels": {k.value: v for k, v in LABELS.items()},
        },
        status_code=200 if items else 404,
    )
