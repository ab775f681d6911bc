"""Orchestration-local activities: the order policy and the (simulated) carrier."""

from __future__ import annotations

import hashlib
import logging

from temporalio import activity
from temporalio.client import Client

from services.contracts import (
    BOOK_SHIPMENT,
    CARRIER_EVENT,
    ORDER_POLICY,
    BookShipmentRequest,
    CarrierEvent,
    CarrierEventKind,
    OrderPolicy,
    OrderPolicyRequest,
    ShipmentBooking,
)
from services.events.store import EventStore

logger = logging.getLogger(__name__)

#: What the simulated carrier reports, in order, when it auto-delivers.
SIMULATED_JOURNEY = (
    CarrierEventKind.PICKED_UP,
    CarrierEventKind.IN_TRANSIT,
    CarrierEventKind.DELIVERED,
)


class PolicyActivities:
    """Hands sagas the deployment's order policy (run as a local activity)."""

    def __init__(self, *, policy: OrderPolicy) -> None:
        self._policy = policy

    @activity.defn(name=ORDER_POLICY)
    async def order_policy(self, request: OrderPolicyRequest) -> OrderPolicy:
        """The policy in force; the saga records it in its history once."""
        return self._policy


class CarrierActivities:
    """Books parcels with the carrier. Here a stand-in: a real adapter would call the
    carrier's API and its webhook would signal `carrier_event` to `shipment-<order_id>`.

    With `auto_deliver`, the stand-in plays the carrier's webhook itself: it signals
    picked_up, in_transit and delivered with stable event ids (a retry re-sends the same
    ids, which the shipment ignores as duplicates).
    """

    def __init__(self, *, client: Client, auto_deliver: bool, events: EventStore) -> None:
        self._client = client
        self._auto = auto_deliver
        self._events = events

    @activity.defn(name=BOOK_SHIPMENT)
    async def book_shipment(self, request: BookShipmentRequest) -> ShipmentBooking:
        """Book once per key (recording the order's `order.shipping` with the booking); the
        tracking number derives from the key."""
        tracking = "TRK" + hashlib.sha256(request.booking_key.encode()).hexdigest()[:12].upper()
        await self._events.record(request.events)
        if self._auto:
            handle = self._client.get_workflow_handle(request.shipment_workflow_id)
            for kind in SIMULATED_JOURNEY:
                await handle.signal(
                    CARRIER_EVENT, CarrierEvent(event_id=f"{tracking}:{kind.value}", event=kind)
                )
            logger.info("simulated carrier delivered %s (%s)", request.order_id, tracking)
        return ShipmentBooking(tracking_number=tracking, simulated_events=self._auto)
