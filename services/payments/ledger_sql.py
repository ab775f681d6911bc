"""SQL shared by the ledger backends: the column list, and unique-index errors as violations."""

from __future__ import annotations

from services.contracts import ALREADY_CAPTURED, AUTHORIZATION_VOIDED, IDEMPOTENCY_CONFLICT
from services.payments.ledger import EntryKind, LedgerEntry, LedgerViolationError

COLUMNS = "key, order_id, kind, amount_cents, currency, provider_ref, created_at, parent_key"


def violation_of_unique(detail: str, entry: LedgerEntry) -> LedgerViolationError:
    """Turn a unique-constraint error into the rule it enforces. `detail` is PostgreSQL's
    constraint name or SQLite's message (which names the columns).

    Reached only when two writers race past the state-machine check; the index wins.
    """
    if "order_id" in detail or "saga_capture_per_order" in detail:
        rule = ALREADY_CAPTURED
    elif "parent_key" in detail or "per_authorization" in detail:
        rule = ALREADY_CAPTURED if entry.kind is EntryKind.CAPTURE else AUTHORIZATION_VOIDED
    else:
        rule = IDEMPOTENCY_CONFLICT
    return LedgerViolationError(
        rule, f"{entry.kind.value} {entry.key!r} refused for order {entry.order_id}: {rule}"
    )
