"""`GET /orders/{id}/events`: an order's events as Server-Sent Events, live.

The stream sends the events recorded so far (after `Last-Event-ID`, or `?after=`), then
each new one as it is recorded, in seq order without a gap or a repeat, a keep-alive comment
when nothing happened for `RTW_GATEWAY_EVENTS_KEEPALIVE_SECONDS` (15 s), and ends after the
order's final event (or after `RTW_GATEWAY_EVENTS_MAX_STREAM_SECONDS`, 15 min: the client
resumes). A client that reconnects with the last id it saw (browsers' EventSource
do it by themselves) continues exactly after it, on any replica.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import StreamingResponse
from temporalio.client import WorkflowExecutionStatus

from services.contracts import order_workflow_id
from services.gateway.auth_deps import require_token
from services.gateway.context import Gateway, gateway_of
from services.gateway.errors import ApiError, temporal_call
from services.gateway.events_hub import CLOSED, EventHub, Subscription
from services.gateway.models import Problem
from services.gateway.orders import OrderId
from services.gateway.sse import comment, frame, retry

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/orders", tags=["orders"], dependencies=[Depends(require_token)])

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def hub_of(gateway: Gateway) -> EventHub:
    """The process's event hub, or 503 when events are off."""
    if gateway.hub is None:
        raise ApiError(
            503, "EventsOff", "order events are off on this gateway (RTW_GATEWAY_EVENTS=false)"
        )
    return gateway.hub


def _last_id(header: str | None, after: int | None) -> int:
    if header is None or not header.strip():
        return after or 0
    if not header.strip().isdigit() or len(header.strip()) > 18:
        raise ApiError(422, "InvalidRequest", "Last-Event-ID must be an event's id (its seq)")
    return int(header.strip())


async def _known(gateway: Gateway, order_id: str) -> None:
    """404 for an order that does not exist, 409 for one that ended before its first event
    (refused at its start): asked of Temporal once, only while the store has no event."""
    timeout = gateway.settings.request_timeout_seconds
    async with temporal_call(timeout, order_id=order_id):
        handle = gateway.client.get_workflow_handle(order_workflow_id(order_id))
        description = await handle.describe(rpc_timeout=timedelta(seconds=timeout))
    if description.status is not WorkflowExecutionStatus.RUNNING:
        raise ApiError(409, "NoEvents", f"order {order_id} ended before it had an event")


async def follow(
    hub: EventHub,
    sub: Subscription,
    order_id: str,
    after: int,
    keepalive: float,
    max_seconds: float = 900.0,
) -> AsyncIterator[str]:
    """The frames of one order's stream (see the module docstring)."""
    last = after
    ends = asyncio.get_running_loop().time() + max_seconds
    try:
        yield retry()
        read = True  # from the store first, and again after any sign of a gap
        while True:
            if read:
                read = False
                for stored in await hub.store.after(order_id, last):
                    last = stored.event.seq
                    yield frame(stored)
                    if stored.event.final:
                        return
            left = ends - asyncio.get_running_loop().time()
            if left <= 0:
                yield comment("stream closed after its time: resume with Last-Event-ID")
                return
            try:
                item = await asyncio.wait_for(sub.queue.get(), timeout=min(keepalive, left))
            except TimeoutError:
                yield comment("keep-alive")
                continue
            if item == CLOSED:
                return
            if isinstance(item, str) or item.event.seq > last + 1:
                read = True  # RESYNC, or a gap: the store has it (or will, when announced)
                continue
            if item.event.seq <= last:
                continue  # sent already (read from the store before it was announced)
            last = item.event.seq
            yield frame(item)
            if item.event.final:
                return
    finally:
        hub.unsubscribe(sub)


@router.get(
    "/{order_id}/events",
    summary="The order's events, live (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "`text/event-stream`: one SSE event per order event (`id` its seq, "
            "`event` its type, `data` the JSON), keep-alive comments, closed after the final "
            "event",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        401: {"model": Problem, "description": "no or unknown bearer token"},
        404: {"model": Problem, "description": "no such order"},
        409: {"model": Problem, "description": "the order ended before its first event"},
        422: {"model": Problem, "description": "a bad Last-Event-ID or after"},
        503: {"model": Problem, "description": "events are off, or Temporal cannot answer"},
    },
)
async def order_events(
    order_id: OrderId,
    gateway: Annotated[Gateway, Depends(gateway_of)],
    last_event_id: Annotated[
        str | None,
        Header(
            pattern=r"^ *[0-9]{1,18} *$",
            description="resume after this event (its id, the seq); wins over after",
        ),
    ] = None,
    after: Annotated[
        int | None,
        Query(ge=0, le=10**12, description="start after this seq (for a first connection)"),
    ] = None,
) -> StreamingResponse:
    """Events recorded so far after `Last-Event-ID` (or `after`), then each new one as it is
    recorded; a keep-alive comment at least every 15 s; closed after the final event."""
    hub = hub_of(gateway)
    start = _last_id(last_event_id, after)
    sub = hub.subscribe(order_id)  # before reading: nothing recorded from now on is missed
    try:
        if start == 0 and await hub.store.last_seq(order_id) == 0:
            await _known(gateway, order_id)
    except BaseException:
        hub.unsubscribe(sub)
        raise
    settings = gateway.settings
    frames = follow(
        hub,
        sub,
        order_id,
        start,
        settings.events_keepalive_seconds,
        settings.events_max_stream_seconds,
    )
    return StreamingResponse(frames, media_type="text/event-stream", headers=STREAM_HEADERS)
