"""After a run: do money and stock add up? Read from the shared database and the histories."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from services.chaos.orders import LIMITED_SKU, LIMITED_STOCK, Outcome
from services.contracts import OrderState, order_workflow_id
from services.runtime.database import PostgresDatabase

#: Final states after which every authorization must be voided and every capture refunded.
UNDONE = frozenset({OrderState.COMPENSATED, OrderState.REJECTED, OrderState.CANCELLED})

#: Activities whose recovery after a kill is measured.
PAYMENT_ACTIVITIES = frozenset(
    {"payments.authorize", "payments.capture", "payments.void", "payments.refund"}
)


@dataclass
class MoneyAudit:
    """Violations found in the ledger, stock and outbox (each list should be empty)."""

    double_charges: list[str] = field(default_factory=list)
    over_captured: list[str] = field(default_factory=list)
    orphaned_charges: list[str] = field(default_factory=list)
    limited_reserved: int = 0
    limited_available: int = 0
    oversold: bool = False
    duplicate_outbox_rows: int = 0
    confirmations_missing: list[str] = field(default_factory=list)


async def _rows(db: PostgresDatabase, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    async with db.pool.connection() as conn:
        cur = await conn.execute(sql.encode(), params)
        return list(await cur.fetchall())


async def audit_money(db: PostgresDatabase, outcomes: Iterable[Outcome]) -> MoneyAudit:
    """Check the invariants of the issue for every order the run sent."""
    found = MoneyAudit()
    by_id = {o.order_id: o for o in outcomes}
    ids = list(by_id)
    entries = await _rows(
        db,
        "SELECT order_id, key, kind, amount_cents, parent_key FROM ledger WHERE order_id = ANY(%s)",
        ids,
    )
    auths = {
        key: (order, amount) for order, key, kind, amount, _ in entries if kind == "authorization"
    }
    children: dict[str, list[tuple[str, int]]] = {}
    for _, _, kind, amount, parent in entries:
        if parent is not None:
            children.setdefault(parent, []).append((kind, amount))
    captures: dict[str, list[tuple[str, int]]] = {}
    for order, key, kind, amount, parent in entries:
        if kind == "capture" and parent is not None:
            captures.setdefault(order, []).append((key, amount))

    for order_id, caps in sorted(captures.items()):
        if len(caps) > 1:
            found.double_charges.append(f"{order_id}: {len(caps)} captures")
        if sum(a for _, a in caps) > by_id[order_id].total_cents:
            found.over_captured.append(order_id)
    for key, (order_id, amount) in sorted(auths.items()):
        kinds = [k for k, _ in children.get(key, [])]
        state = by_id[order_id].state
        if "capture" not in kinds and "void" not in kinds:
            found.orphaned_charges.append(f"{order_id}: authorization of {amount} left open")
        if state in UNDONE and "capture" in kinds:
            capture_key = next(k for k, _ in captures.get(order_id, []))
            refunded = sum(a for k, a in children.get(capture_key, []) if k == "refund")
            if refunded < amount:
                found.orphaned_charges.append(f"{order_id}: captured, {state}, refunded {refunded}")

    reserved = await _rows(
        db,
        "SELECT items FROM reservations WHERE NOT released AND order_id = ANY(%s)",
        ids,
    )
    found.limited_reserved = sum(json.loads(r[0]).get(LIMITED_SKU, 0) for r in reserved)
    available = await _rows(db, "SELECT available FROM stock WHERE sku = %s", LIMITED_SKU)
    found.limited_available = int(available[0][0]) if available else 0
    found.oversold = (
        found.limited_reserved > LIMITED_STOCK
        or found.limited_available < 0
        or found.limited_reserved + found.limited_available != LIMITED_STOCK
    )
    dupes = await _rows(db, "SELECT count(*) - count(DISTINCT dedupe_key) FROM outbox")
    found.duplicate_outbox_rows = int(dupes[0][0])
    confirmed = {
        r[0]
        for r in await _rows(
            db,
            "SELECT order_id FROM outbox WHERE kind = 'order_confirmed' AND order_id = ANY(%s)",
            ids,
        )
    }
    found.confirmations_missing = sorted(
        o.order_id
        for o in by_id.values()
        if o.state is OrderState.COMPLETED and o.order_id not in confirmed
    )
    return found


@dataclass(frozen=True)
class OrderBooks:
    """What one order left in the shared stores: money still taken, holds still open, stock
    still reserved. A cancelled, compensated or rejected order must leave none of it."""

    order_id: str
    captured_cents: int
    refunded_cents: int
    open_holds: list[str]
    reserved_units: int

    @property
    def settled(self) -> bool:
        """Nothing charged, held or reserved."""
        return (
            self.captured_cents == self.refunded_cents
            and not self.open_holds
            and self.reserved_units == 0
        )


async def order_books(db: PostgresDatabase, order_id: str) -> OrderBooks:
    """Read one order's ledger entries and reservations."""
    entries = await _rows(
        db, "SELECT key, kind, amount_cents, parent_key FROM ledger WHERE order_id = %s", order_id
    )
    closed = {parent for _, kind, _, parent in entries if kind in ("capture", "void")}
    reserved = await _rows(
        db, "SELECT items FROM reservations WHERE NOT released AND order_id = %s", order_id
    )
    return OrderBooks(
        order_id=order_id,
        captured_cents=sum(a for _, kind, a, _ in entries if kind == "capture"),
        refunded_cents=sum(a for _, kind, a, _ in entries if kind == "refund"),
        open_holds=sorted(
            key for key, kind, _, _ in entries if kind == "authorization" and key not in closed
        ),
        reserved_units=sum(sum(json.loads(r[0]).values()) for r in reserved),
    )


async def audit_cancelled(db: PostgresDatabase, outcomes: Iterable[Outcome]) -> list[str]:
    """Every cancelled order left nothing behind: capture - refund = 0, no open
    authorization, no stock reserved. Returns the orders that did, with what they left."""
    unsettled = []
    for o in outcomes:
        if o.state is OrderState.CANCELLED:
            books = await order_books(db, o.order_id)
            if not books.settled:
                unsettled.append(
                    f"{o.order_id}: cancelled with {books.captured_cents - books.refunded_cents} "
                    f"cents kept, holds {books.open_holds}, {books.reserved_units} units reserved"
                )
    return unsettled


@dataclass
class EventsAudit:
    """What the order events of a run show (each list should be empty)."""

    orders: int = 0
    events: int = 0
    gaps: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    wrong_end: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """Every violation, one line each."""
        return [*self.gaps, *self.duplicates, *self.wrong_end]


async def audit_events(db: PostgresDatabase, outcomes: Iterable[Outcome]) -> EventsAudit:
    """For every order that ended: its events are numbered 1..n without a gap, no number
    and no transition is recorded twice, and the last event is the order's outcome
    (`order.<state>`; cancelled orders included)."""
    found = EventsAudit()
    ended = {o.order_id: o for o in outcomes if o.closed and o.state is not None}
    rows = await _rows(
        db,
        "SELECT order_id, seq, type FROM order_events WHERE order_id = ANY(%s) "
        "ORDER BY order_id, seq",
        list(ended),
    )
    by_order: dict[str, list[tuple[int, str]]] = {}
    for order_id, seq, kind in rows:
        by_order.setdefault(order_id, []).append((int(seq), kind))
    for order_id, outcome in sorted(ended.items()):
        events = by_order.get(order_id, [])
        found.orders += 1
        found.events += len(events)
        seqs = [seq for seq, _ in events]
        kinds = [kind for _, kind in events]
        if seqs != list(range(1, len(seqs) + 1)):
            found.gaps.append(f"{order_id}: event numbers {seqs}")
        repeated = sorted({k for k in kinds if kinds.count(k) > 1})
        if repeated or len(set(seqs)) != len(seqs):
            found.duplicates.append(f"{order_id}: recorded twice: {repeated or seqs}")
        assert outcome.state is not None
        want = f"order.{outcome.state.value}"
        if not kinds or kinds[-1] != want:
            last = kinds[-1] if kinds else None
            found.wrong_end.append(f"{order_id}: ended {outcome.state.value}, last event {last}")
    return found


@dataclass(frozen=True)
class RetriedStep:
    """A payment step that needed more than one attempt: scheduled and closed (epoch s)."""

    activity: str
    scheduled: float
    closed: float

    @property
    def seconds(self) -> float:
        """Schedule-to-close time: how long the fault held this step up."""
        return self.closed - self.scheduled


@dataclass
class Recovery:
    """How long faults stalled the sagas, read from their histories."""

    retried: list[RetriedStep] = field(default_factory=list)
    workflow_task_timeouts: int = 0
    max_workflow_task_seconds: float = 0.0


async def measure_recovery(client: Client, order_ids: Iterable[str]) -> Recovery:
    """Recovery after a kill = schedule-to-close time of a payment step that needed more than
    one attempt (its worker died or the server restarted under it)."""
    found = Recovery()
    for order_id in order_ids:
        handle = client.get_workflow_handle(order_workflow_id(order_id))
        scheduled: dict[int, tuple[str, float]] = {}
        attempts: dict[int, int] = {}
        wft_scheduled: float | None = None
        async for event in handle.fetch_history_events():
            at = event.event_time.ToDatetime().timestamp()
            etype = event.event_type
            if etype == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                name = event.activity_task_scheduled_event_attributes.activity_type.name
                scheduled[event.event_id] = (name, at)
            elif etype == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                attrs = event.activity_task_started_event_attributes
                attempts[attrs.scheduled_event_id] = attrs.attempt
            elif etype == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                sid = event.activity_task_completed_event_attributes.scheduled_event_id
                name, start = scheduled.get(sid, ("", at))
                if name in PAYMENT_ACTIVITIES and attempts.get(sid, 1) > 1:
                    found.retried.append(RetriedStep(name, start, at))
            elif etype == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                wft_scheduled = at
            elif etype == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                found.workflow_task_timeouts += 1
            elif etype == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and wft_scheduled:
                found.max_workflow_task_seconds = max(
                    found.max_workflow_task_seconds, at - wft_scheduled
                )
    return found


def tally(outcomes: Iterable[Outcome]) -> dict[str, Any]:
    """Counts by final state, plus the orders that were lost or ended unexpectedly."""
    counts: dict[str, int] = {}
    lost, unexpected = [], []
    for o in outcomes:
        if not o.closed:
            lost.append(o.order_id)
            continue
        assert o.state is not None
        counts[o.state.value] = counts.get(o.state.value, 0) + 1
        if o.state not in o.expected:
            unexpected.append(f"{o.order_id} ({o.kind}): {o.state.value} {o.failure or ''}".strip())
    return {"by_state": counts, "lost": lost, "unexpected": unexpected}


def recovery_by_fault(
    steps: Iterable[RetriedStep], faults: Iterable[tuple[float, str]]
) -> dict[str, float]:
    """Longest retried step per fault that held it up: by the fault's kind when exactly one
    fault falls in the step's window, `compound` when several did, `none` when none did."""
    worst: dict[str, float] = {}
    fault_list = list(faults)
    for step in steps:
        kinds = [kind for at, kind in fault_list if step.scheduled - 1.0 <= at <= step.closed]
        bucket = kinds[0] if len(kinds) == 1 else ("compound" if kinds else "none")
        if bucket == "crash_after_capture":
            bucket = "kill"
        worst[bucket] = round(max(worst.get(bucket, 0.0), step.seconds), 2)
    return worst
