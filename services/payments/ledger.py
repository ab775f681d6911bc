"""The payments ledger: every money movement once, and only where the money's state allows it.

The port (`Ledger`), its entry model and the state machine live here; the backends
(`SqliteLedger`, `PostgresLedger`) apply `check_transition` inside one transaction that has
locked the parent entry, and the schema's unique indexes back the rules up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from services.contracts import (
    ALREADY_CAPTURED,
    AMOUNT_EXCEEDS_AUTHORIZATION,
    AUTHORIZATION_MISSING,
    AUTHORIZATION_VOIDED,
    CAPTURE_MISSING,
    IDEMPOTENCY_CONFLICT,
    REFUND_EXCEEDS_CAPTURE,
    OrderEvent,
)


class EntryKind(StrEnum):
    """Kinds of ledger entry."""

    AUTHORIZATION = "authorization"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


#: What each kind may hang off: a capture or void off an authorization, a refund off a capture.
PARENT_KIND = {
    EntryKind.CAPTURE: EntryKind.AUTHORIZATION,
    EntryKind.VOID: EntryKind.AUTHORIZATION,
    EntryKind.REFUND: EntryKind.CAPTURE,
}


@dataclass(frozen=True)
class LedgerEntry:
    """One money movement; `parent_key` names the entry it acts on (none for an
    authorization or a one-step charge)."""

    key: str
    order_id: str
    kind: EntryKind
    amount_cents: int
    currency: str
    provider_ref: str
    created_at: str
    parent_key: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "kind": self.kind.value}

    def same_movement(self, other: LedgerEntry) -> bool:
        """True when `other` records the same movement (a retry), whatever its time/ref."""
        return (self.order_id, self.kind, self.amount_cents, self.currency, self.parent_key) == (
            other.order_id,
            other.kind,
            other.amount_cents,
            other.currency,
            other.parent_key,
        )


@dataclass(frozen=True)
class OrderTotals:
    """Saga captures and refunds of one order (reconciliation input)."""

    order_id: str
    currency: str
    captured_cents: int
    refunded_cents: int
    first_capture_at: str


class LedgerViolationError(Exception):
    """A movement the money's state forbids; `type` is the business error type."""

    def __init__(self, type_: str, message: str) -> None:
        super().__init__(message)
        self.type = type_


def now_iso() -> str:
    """Current UTC time for ledger rows."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def check_transition(
    entry: LedgerEntry,
    *,
    existing: LedgerEntry | None,
    parent: LedgerEntry | None,
    siblings: list[LedgerEntry],
) -> LedgerEntry | None:
    """The ledger's state machine. Returns the stored entry when `entry` repeats it (an
    idempotent retry), None when `entry` may be recorded; raises `LedgerViolationError` otherwise.

    `parent` is the entry `entry.parent_key` names, `siblings` every entry already hanging
    off that parent.
    """
    if existing is not None:
        if existing.same_movement(entry):
            return existing
        raise LedgerViolationError(
            IDEMPOTENCY_CONFLICT,
            f"key {entry.key!r} already records {existing.kind.value} of "
            f"{existing.amount_cents} {existing.currency} for order {existing.order_id}",
        )
    if entry.parent_key is None:
        if entry.kind in (EntryKind.VOID, EntryKind.REFUND):
            raise LedgerViolationError(
                AUTHORIZATION_MISSING if entry.kind is EntryKind.VOID else CAPTURE_MISSING,
                f"a {entry.kind.value} must name what it reverses",
            )
        return None
    wanted = PARENT_KIND.get(entry.kind)
    if parent is None or parent.kind is not wanted:
        missing = CAPTURE_MISSING if wanted is EntryKind.CAPTURE else AUTHORIZATION_MISSING
        raise LedgerViolationError(
            missing, f"no {wanted.value if wanted else 'parent'} {entry.parent_key!r} in the ledger"
        )
    if parent.order_id != entry.order_id or parent.currency != entry.currency:
        raise LedgerViolationError(
            IDEMPOTENCY_CONFLICT,
            f"{entry.parent_key!r} belongs to order {parent.order_id} in {parent.currency}",
        )
    kinds = [s.kind for s in siblings]
    if entry.kind is EntryKind.CAPTURE:
        if EntryKind.VOID in kinds:
            raise LedgerViolationError(
                AUTHORIZATION_VOIDED, f"authorization {parent.key!r} was voided; cannot capture"
            )
        if EntryKind.CAPTURE in kinds:
            raise LedgerViolationError(
                ALREADY_CAPTURED, f"authorization {parent.key!r} is already captured"
            )
        if entry.amount_cents > parent.amount_cents:
            raise LedgerViolationError(
                AMOUNT_EXCEEDS_AUTHORIZATION,
                f"capture of {entry.amount_cents} exceeds the authorized {parent.amount_cents}",
            )
    elif entry.kind is EntryKind.VOID:
        if EntryKind.CAPTURE in kinds:
            raise LedgerViolationError(
                ALREADY_CAPTURED, f"authorization {parent.key!r} is captured; refund instead"
            )
        if EntryKind.VOID in kinds:
            raise LedgerViolationError(
                AUTHORIZATION_VOIDED, f"authorization {parent.key!r} is already voided"
            )
    elif entry.kind is EntryKind.REFUND:
        refunded = sum(s.amount_cents for s in siblings if s.kind is EntryKind.REFUND)
        if refunded + entry.amount_cents > parent.amount_cents:
            raise LedgerViolationError(
                REFUND_EXCEEDS_CAPTURE,
                f"refund of {entry.amount_cents} exceeds what is left of capture "
                f"{parent.key!r} ({parent.amount_cents - refunded})",
            )
    return None


class Ledger(Protocol):
    """Storage port of the payments service (`SqliteLedger`, `PostgresLedger`)."""

    async def get(self, key: str) -> LedgerEntry | None:
        """The entry recorded under `key`, if any."""
        ...

    async def check(self, entry: LedgerEntry) -> LedgerEntry | None:
        """`check_transition` against the stored state, without writing."""
        ...

    async def record(self, entry: LedgerEntry, events: Sequence[OrderEvent] = ()) -> LedgerEntry:
        """Record `entry` atomically if the state machine allows it, with the order `events`
        that report it in the same transaction; return the stored entry (the earlier one for
        a retry, its events then written with it). Raises `LedgerViolationError` otherwise."""
        ...

    async def children(self, parent_key: str) -> list[LedgerEntry]:
        """Entries that act on `parent_key`, oldest first."""
        ...

    async def entries(
        self, *, order_id: str | None = None, since: str | None = None, limit: int | None = None
    ) -> list[LedgerEntry]:
        """Entries oldest first, filtered by order and/or creation time (ISO 8601)."""
        ...

    async def saga_capture_totals(self, *, since: str) -> list[OrderTotals]:
        """Per order with a saga capture since `since`: captured and refunded totals."""
        ...

    async def dangling_authorizations(self, *, since: str, before: str) -> list[LedgerEntry]:
        """Authorizations created in [since, before) neither captured nor voided."""
        ...
