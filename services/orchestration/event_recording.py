"""Orchestration-local activity: record order events that no other step carries."""

from __future__ import annotations

from temporalio import activity

from services.contracts import RECORD_ORDER_EVENTS, RecordedEvents, RecordEventsRequest
from services.events.store import EventStore
from services.runtime.settle import to_completion


class EventActivities:
    """Records a saga's events in their own transaction (a local activity in the workflow
    task that made them): waiting for approval, a decision, carrier events, completion."""

    def __init__(self, *, store: EventStore) -> None:
        self._store = store

    @activity.defn(name=RECORD_ORDER_EVENTS)
    async def record_order_events(self, request: RecordEventsRequest) -> RecordedEvents:
        """Write the events (a repeat is ignored); return the order's last seq."""
        await to_completion(self._store.record(request.events))
        return RecordedEvents(
            order_id=request.order_id, last_seq=await self._store.last_seq(request.order_id)
        )
