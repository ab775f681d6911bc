"""Versioned schema migrations of every store (ledger, inventory, order claims, outbox,
order events, webhook deliveries).

Append a new `Migration` for every change; never edit one that has shipped. Each migration
has a PostgreSQL and an SQLite form, rendered from one schema text. The database enforces
the money and stock rules it can express (unique keys, one capture and one void per
authorization, one saga capture per order, stock never below zero); the stores check the
rest inside the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    """One schema version."""

    version: int
    name: str
    postgres: str
    sqlite: str

    def sqlite_statements(self) -> list[str]:
        """The SQLite script split into statements (sqlite3 runs one at a time)."""
        return [s.strip() for s in self.sqlite.split(";") if s.strip()]


#: Upper bound of any stored amount (minor units); orders are capped far below it.
MAX_STORED_CENTS = 10**15

#: Column types that differ between the dialects; the schema text is written once.
_POSTGRES = {
    "serial": "BIGSERIAL PRIMARY KEY",
    "bigint": "BIGINT",
    "time": "TIMESTAMPTZ",
    "now": "now()",
    "bool": "BOOLEAN",
    "false": "false",
    "random_id": "md5(random()::text || clock_timestamp()::text)",
}
_SQLITE = {
    "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "bigint": "INTEGER",
    "time": "TEXT",
    "now": "CURRENT_TIMESTAMP",
    "bool": "INTEGER",
    "false": "0",
    "random_id": "lower(hex(randomblob(16)))",
}

_V1 = """
CREATE TABLE ledger (
    seq {serial},
    key TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('authorization', 'capture', 'void', 'refund')),
    amount_cents {bigint} NOT NULL CHECK (amount_cents >= 0 AND amount_cents <= {max_cents}),
    currency TEXT NOT NULL,
    provider_ref TEXT NOT NULL,
    parent_key TEXT REFERENCES ledger (key),
    created_at {time} NOT NULL
);
CREATE INDEX ledger_order ON ledger (order_id);
CREATE INDEX ledger_created ON ledger (created_at);
CREATE INDEX ledger_parent ON ledger (parent_key);
CREATE UNIQUE INDEX ledger_one_capture_per_authorization ON ledger (parent_key)
    WHERE kind = 'capture';
CREATE UNIQUE INDEX ledger_one_void_per_authorization ON ledger (parent_key)
    WHERE kind = 'void';
CREATE UNIQUE INDEX ledger_one_saga_capture_per_order ON ledger (order_id)
    WHERE kind = 'capture' AND parent_key IS NOT NULL;
CREATE TABLE stock (
    sku TEXT PRIMARY KEY,
    available {bigint} NOT NULL CHECK (available >= 0)
);
CREATE TABLE reservations (
    key TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    items TEXT NOT NULL,
    released {bool} NOT NULL DEFAULT {false},
    created_at {time} NOT NULL DEFAULT {now}
);
CREATE INDEX reservations_order ON reservations (order_id);
CREATE TABLE order_claims (
    order_id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    claimed_at {time} NOT NULL DEFAULT {now}
);
CREATE TABLE outbox (
    seq {serial},
    dedupe_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    order_id TEXT,
    message TEXT NOT NULL,
    created_at {time} NOT NULL
);
CREATE INDEX outbox_order ON outbox (order_id)
"""


def _dialects(schema: str) -> tuple[str, str]:
    """The PostgreSQL and SQLite forms of one schema text."""
    return (
        schema.format(max_cents=MAX_STORED_CENTS, **_POSTGRES),
        schema.format(max_cents=MAX_STORED_CENTS, **_SQLITE),
    )


#: The store's identity: one random id, made once by the first migration run against it.
#: Every worker reads it at start and tags its Temporal identity with it, so workers of one
#: deployment that use different stores find each other (`services.runtime.store_identity`).
_V2 = """
CREATE TABLE store_identity (
    id TEXT PRIMARY KEY,
    created_at {time} NOT NULL DEFAULT {now}
);
INSERT INTO store_identity (id) VALUES ({random_id})
"""

#: Order events (written by the saga's steps in their own transactions) and the outbound
#: webhook deliveries made from them. `position` orders all events for the readers that
#: follow every order; `(order_id, seq)` makes a retried or replayed write a no-op.
_V3 = """
CREATE TABLE order_events (
    position {serial},
    order_id TEXT NOT NULL,
    seq {bigint} NOT NULL CHECK (seq >= 1),
    type TEXT NOT NULL,
    occurred_at {time} NOT NULL,
    recorded_at {time} NOT NULL,
    data TEXT NOT NULL,
    fanned_out {bool} NOT NULL DEFAULT {false}
);
CREATE UNIQUE INDEX order_events_order_seq ON order_events (order_id, seq);
CREATE INDEX order_events_type ON order_events (type);
CREATE INDEX order_events_to_fan_out ON order_events (position) WHERE NOT fanned_out;
CREATE TABLE webhook_deliveries (
    id {serial},
    endpoint TEXT NOT NULL,
    order_id TEXT NOT NULL,
    seq {bigint} NOT NULL,
    event_type TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at {time} NOT NULL,
    lease_until {time},
    last_error TEXT,
    last_status INTEGER,
    created_at {time} NOT NULL,
    delivered_at {time}
);
CREATE UNIQUE INDEX webhook_deliveries_event ON webhook_deliveries (endpoint, order_id, seq);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_state ON webhook_deliveries (state, id)
"""

#: PostgreSQL only: every recorded event is announced on the channel `rtw_order_events`
#: (`<order_id> <seq>`), sent when its transaction commits, so every gateway replica learns
#: of it through LISTEN without polling. SQLite readers poll the table instead.
_V3_NOTIFY = """;
CREATE FUNCTION rtw_notify_order_event() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('rtw_order_events', NEW.order_id || ' ' || NEW.seq);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER order_events_notify AFTER INSERT ON order_events
    FOR EACH ROW EXECUTE FUNCTION rtw_notify_order_event()
"""

_V3_POSTGRES, _V3_SQLITE = _dialects(_V3)

#: The LISTEN/NOTIFY channel of new order events (PostgreSQL).
EVENTS_CHANNEL = "rtw_order_events"

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "ledger, inventory, order claims, outbox", *_dialects(_V1)),
    Migration(2, "store identity", *_dialects(_V2)),
    Migration(3, "order events, webhook deliveries", _V3_POSTGRES + _V3_NOTIFY, _V3_SQLITE),
)

#: The schema version this build needs.
LATEST_VERSION = MIGRATIONS[-1].version
