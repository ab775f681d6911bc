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


# The queries both backends run, written once with `?` placeholders (SQLite's; the
# PostgreSQL backend swaps them for `%s`). Times are ISO 8601 strings for SQLite and
# timestamps for PostgreSQL; the backend converts them.
SELECT = f"SELECT {COLUMNS} FROM ledger"  # nosec B608  # module constants only

SAGA_CAPTURE_TOTALS = """
    SELECT c.order_id, c.currency, c.amount_cents, c.created_at,
           coalesce((SELECT sum(r.amount_cents) FROM ledger r
                     WHERE r.parent_key = c.key AND r.kind = 'refund'), 0)
    FROM ledger c
    WHERE c.kind = 'capture' AND c.parent_key IS NOT NULL AND c.created_at >= ?
    ORDER BY c.seq"""

DANGLING_AUTHORIZATIONS = (
    SELECT  # nosec B608  # module constants only
    + """ a WHERE a.kind = 'authorization' AND a.created_at >= ? AND a.created_at < ?
      AND NOT EXISTS (SELECT 1 FROM ledger x WHERE x.parent_key = a.key
                      AND x.kind IN ('capture', 'void'))
    ORDER BY a.seq"""
)


def entries_query(
    *, order_id: str | None, since: object | None, limit: int | None
) -> tuple[str, list[object]]:
    """`SELECT … ORDER BY seq` filtered by order and creation time, with its parameters."""
    where: list[str] = []
    params: list[object] = []
    if order_id is not None:
        where.append("order_id = ?")
        params.append(order_id)
    if since is not None:
        where.append("created_at >= ?")
        params.append(since)
    sql = SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return sql, params
