"""Shipment: a child workflow driven by carrier events, with SLA timers that escalate."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, VersioningBehavior

with workflow.unsafe.imports_passed_through():
    from services.contracts import (
        BOOK_SHIPMENT,
        CARRIER_EVENT,
        OPS_RECIPIENT,
        SEND_NOTIFICATION,
        SHIPMENT_WORKFLOW,
        STATUS_QUERY,
        AppliedEvent,
        BookShipmentRequest,
        CarrierEvent,
        CarrierEventKind,
        NotificationKind,
        NotificationReceipt,
        NotificationRequest,
        OrderEventType,
        ShipmentBooking,
        ShipmentInput,
        ShipmentState,
        ShipmentStatus,
        TaskQueue,
        queue_name,
        queue_prefix_of,
    )
    from services.orchestration.order_events import EventLog
    from services.orchestration.saga_steps import to_the_end

#: Progress rank of each state; an event never moves a shipment backwards.
RANK = {
    ShipmentState.BOOKING: 0,
    ShipmentState.AWAITING_PICKUP: 0,
    ShipmentState.PICKED_UP: 1,
    ShipmentState.IN_TRANSIT: 2,
    ShipmentState.DELIVERED: 3,
    ShipmentState.LOST: 3,
}
FINAL = frozenset({ShipmentState.DELIVERED, ShipmentState.LOST})
EVENT_STATE = {
    CarrierEventKind.PICKED_UP: ShipmentState.PICKED_UP,
    CarrierEventKind.IN_TRANSIT: ShipmentState.IN_TRANSIT,
    CarrierEventKind.DELIVERED: ShipmentState.DELIVERED,
    CarrierEventKind.LOST: ShipmentState.LOST,
}
#: The order event each applied carrier event is.
CARRIER_ORDER_EVENTS = {
    CarrierEventKind.PICKED_UP: OrderEventType.PICKED_UP,
    CarrierEventKind.IN_TRANSIT: OrderEventType.IN_TRANSIT,
    CarrierEventKind.DELIVERED: OrderEventType.DELIVERED,
    CarrierEventKind.LOST: OrderEventType.LOST,
}
#: Event ids remembered for de-duplication (bounded so the state stays small).
MAX_SEEN_EVENTS = 200

ACTIVITY_TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=60))


# PINNED, like its parent saga: a parcel's days-long run stays on the build it started on.
@workflow.defn(name=SHIPMENT_WORKFLOW, versioning_behavior=VersioningBehavior.PINNED)
class Shipment:
    """One order's parcel from booking to delivered or lost.

    Carrier events arrive as `carrier_event` signals, possibly twice and out of order:
    each `event_id` is applied once, and an event that would move the parcel backwards
    (a late `picked_up` after `in_transit`) is recorded as stale without changing state.
    SLA timers: not picked up within the pickup SLA, or not delivered within the delivery
    SLA, sends one escalation notice each to operations; the shipment keeps waiting.

    Order events: the booking records the saga's `order.shipping`; each applied carrier event
    becomes the order's next event, numbered from `next_event_seq` on and recorded (by the
    orchestration-local activity) as it arrives. The last one (delivered or lost) goes back
    to the saga unrecorded, to be recorded with what the saga does next.
    """

    @workflow.init
    def __init__(self, shipment: ShipmentInput) -> None:
        self._status = ShipmentStatus(
            order_id=shipment.order_id,
            workflow_id=workflow.info().workflow_id,
            state=ShipmentState.BOOKING,
        )
        self._seen: list[str] = []
        self._progress = 0  # bumps on every applied event; wakes the main loop
        # next_event_seq 0: a shipment started without its order's numbering records none
        self._events = EventLog(shipment.order_id, next_seq=shipment.next_event_seq)
        self._numbered = shipment.next_event_seq > 0

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> ShipmentStatus:
        """Current state, the events seen and the escalations sent."""
        return self._status

    @workflow.signal(name=CARRIER_EVENT)
    def carrier_event(self, event: CarrierEvent) -> None:
        """Apply a carrier event once per `event_id`, never moving backwards."""
        if event.event_id in self._seen:
            self._status.duplicates_ignored += 1
            return
        self._seen.append(event.event_id)
        del self._seen[:-MAX_SEEN_EVENTS]
        current = self._status.state
        target = EVENT_STATE[event.event]
        if current in FINAL:
            outcome = "ignored_after_final"
        elif RANK[target] <= RANK[current]:
            outcome = "stale"
        else:
            outcome = "applied"
            self._status.state = target
            self._progress += 1
            if self._numbered:
                self._events.emit(
                    CARRIER_ORDER_EVENTS[event.event],
                    event_id=event.event_id,
                    tracking_number=self._status.tracking_number,
                )
        self._status.events.append(
            AppliedEvent(event_id=event.event_id, event=event.event, outcome=outcome)
        )

    @workflow.run
    async def run(self, shipment: ShipmentInput) -> ShipmentStatus:
        """Book, then wait for a final carrier event while the SLA timers run; a cancel
        records the carrier events seen so far first."""
        try:
            return await self._run(shipment)
        except GeneratorExit:  # evicted from the worker's cache: no workflow to flush in
            raise
        except BaseException:
            await to_the_end(self._events.flush())
            raise

    async def _run(self, shipment: ShipmentInput) -> ShipmentStatus:
        info = workflow.info()
        self._notifications_queue = queue_name(
            TaskQueue.NOTIFICATIONS, prefix=queue_prefix_of(info.task_queue)
        )
        started = workflow.now()
        slas: dict[str, datetime] = {
            "pickup": started + timedelta(seconds=shipment.pickup_sla_seconds),
            "delivery": started + timedelta(seconds=shipment.delivery_sla_seconds),
        }
        # A local activity: booking runs inside the first workflow task, and the carrier
        # events it causes arrive together in the next one.
        booking = await workflow.execute_local_activity(
            BOOK_SHIPMENT,
            BookShipmentRequest(
                booking_key=f"{info.workflow_id}:book",
                order_id=shipment.order_id,
                shipment_workflow_id=info.workflow_id,
                events=shipment.events,
            ),
            result_type=ShipmentBooking,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
        )
        self._status.tracking_number = booking.tracking_number
        if self._status.state is ShipmentState.BOOKING:
            self._status.state = ShipmentState.AWAITING_PICKUP

        while self._status.state not in FINAL:
            if self._events.pending:  # picked up, in transit: the shop hears of it now
                await self._events.flush()
                continue
            due = [
                (at, name)
                for name, at in slas.items()
                if name not in self._status.escalations and not self._met(name)
            ]
            moved = self._moved_since(self._progress)
            if not due:
                await workflow.wait_condition(moved)
                continue
            at, name = min(due)
            try:
                await workflow.wait_condition(
                    moved,
                    timeout=max(at - workflow.now(), timedelta(seconds=1)),
                    timeout_summary=f"{name}-sla",
                )
            except TimeoutError:
                await self._escalate(shipment, name)
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._status.unrecorded_events = self._events.take()
        self._status.next_event_seq = self._events.next_seq
        return self._status

    def _moved_since(self, progress: int) -> Callable[[], bool]:
        """A condition that turns true once an event is applied after `progress`."""
        return lambda: self._progress != progress

    def _met(self, sla: str) -> bool:
        rank = RANK[self._status.state]
        return rank >= (1 if sla == "pickup" else 3)

    async def _escalate(self, shipment: ShipmentInput, sla: str) -> None:
        """Tell operations once per SLA; the shipment keeps waiting for the carrier."""
        workflow.logger.warning("shipment %s missed its %s SLA", shipment.order_id, sla)
        self._status.escalations.append(sla)
        await workflow.execute_activity(
            SEND_NOTIFICATION,
            NotificationRequest(
                dedupe_key=f"{workflow.info().workflow_id}:escalation-{sla}",
                customer_id=OPS_RECIPIENT,
                kind=NotificationKind.SHIPMENT_ESCALATION,
                order_id=shipment.order_id,
                data={"sla": sla, "state": self._status.state.value},
            ),
            task_queue=self._notifications_queue,
            result_type=NotificationReceipt,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
        )


@workflow.defn(name=SHIPMENT_WORKFLOW)
class UnversionedShipment(Shipment):
    """`Shipment` for workers with Worker Versioning off: the same workflow without a
    versioning behavior (a server refuses one from an unversioned worker). Kept in this
    module so that a run's sandbox imports nothing more."""

    @workflow.run
    async def run(self, shipment: ShipmentInput) -> ShipmentStatus:
        """See `Shipment.run`."""
        return await super().run(shipment)
