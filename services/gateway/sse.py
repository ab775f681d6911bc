"""Server-Sent Events framing (https://html.spec.whatwg.org/multipage/server-sent-events.html)."""

from __future__ import annotations

import json

from services.events.store import StoredEvent

#: Sent first: how long a browser's EventSource waits before reconnecting (ms).
RETRY_MS = 2000


def event_payload(stored: StoredEvent) -> dict[str, object]:
    """The JSON every client sees for one event (SSE data, webhook body)."""
    event = stored.event
    return {
        "id": event.event_id,
        "order_id": event.order_id,
        "seq": event.seq,
        "type": event.type.value,
        "occurred_at": event.occurred_at.isoformat(),
        "recorded_at": stored.recorded_at.isoformat(),
        "data": event.data,
    }


def frame(stored: StoredEvent) -> str:
    """One event: `id` is the order's seq (what `Last-Event-ID` sends back on resume)."""
    data = json.dumps(event_payload(stored), separators=(",", ":"), sort_keys=True)
    return f"id: {stored.event.seq}\nevent: {stored.event.type.value}\ndata: {data}\n\n"


def named(event: str, data: object) -> str:
    """A frame without an id (the inbox's own messages)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def comment(text: str) -> str:
    """A comment line: keeps proxies and load balancers from closing an idle stream."""
    return f": {text}\n\n"


def retry() -> str:
    """The reconnection delay, for the client."""
    return f"retry: {RETRY_MS}\n\n"
