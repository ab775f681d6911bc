"""Activities of the bare-SDK baselines: plain dataclasses, the SDK's default converter.

They do no business work (no database, no provider), so a bare baseline measures what the
Temporal SDK and server cost for a shape, and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from temporalio import activity
from temporalio.client import Client

#: Activity names (one generic step, the booking that plays the carrier's webhook).
STEP = "bare_step"
BOOK = "bare_book"
#: Signal the bare shipments receive, and the events the stand-in carrier sends.
CARRIER_SIGNAL = "bare_carrier_event"
JOURNEY = ("picked_up", "in_transit", "delivered")
#: Seconds between heartbeats while a "provider call" runs (as rtw's payments activities).
HEARTBEAT_EVERY = 1.0


@dataclass
class BareSagaInput:
    """Input of every bare workflow."""

    saga_id: str


@dataclass
class BareStep:
    """One step: which saga, which step, whether it heartbeats like a payment call."""

    saga_id: str
    step: str
    heartbeat: bool = False


@dataclass
class BareBooking:
    """Book a parcel for a bare shipment (the booking signals the shipment)."""

    saga_id: str
    shipment_id: str


@dataclass
class BareResult:
    """What a step returns."""

    saga_id: str
    step: str
    ref: str


class BareActivities:
    """The generic step and the stand-in carrier's booking."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name=STEP)
    async def step(self, request: BareStep) -> BareResult:
        """Return at once; with `heartbeat`, run a heartbeat task around the (empty) call."""
        if request.heartbeat:
            beat = asyncio.create_task(self._beat())
            try:
                await asyncio.sleep(0)
            finally:
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beat
        return BareResult(saga_id=request.saga_id, step=request.step, ref=f"{request.step}-ref")

    @staticmethod
    async def _beat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            activity.heartbeat()

    @activity.defn(name=BOOK)
    async def book(self, request: BareBooking) -> BareResult:
        """Signal picked_up, in_transit and delivered to the shipment, then return."""
        handle = self._client.get_workflow_handle(request.shipment_id)
        for event in JOURNEY:
            await handle.signal(CARRIER_SIGNAL, f"{request.shipment_id}:{event}")
        return BareResult(saga_id=request.saga_id, step="book", ref=request.shipment_id)
