"""Versioned schema migrations of every store (ledger, inventory, order claims, outbox).

Append a new `Migration` for every change; never edit one that has shipped. Each migration
has a PostgreSQL and an SQLite form of the same schema. The database enforces the money and
stock rules it can express (unique keys, one capture and one void per authorization, one
saga capture per order, stock never below zero); the stores check the rest inside the
same transaction.
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

_V1_POSTGRES = f"""
CREATE TABLE ledger (
    seq BIGSERIAL PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('authorization', 'capture', 'void', 'refund')),
    amount_cents BIGINT NOT NULL CHECK (amount_cents >= 0 AND amount_cents <= {MAX_STORED_CENTS}),
    currency TEXT NOT NULL,
    provider_ref TEXT NOT NULL,
    parent_key TEXT REFERENCES ledger (key),
    created_at TIMESTAMPTZ NOT NULL
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
    available BIGINT NOT NULL CHECK (available >= 0)
);
CREATE TABLE reservations (
    key TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    items TEXT NOT NULL,
    released BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX reservations_order ON reservations (order_id);

CREATE TABLE order_claims (
    order_id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    claimed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE outbox (
    seq BIGSERIAL PRIMARY KEY,
    dedupe_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    order_id TEXT,
    message TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX outbox_order ON outbox (order_id);
"""

_V1_SQLITE = f"""
CREATE TABLE ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('authorization', 'capture', 'void', 'refund')),
    amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0 AND amount_cents <= {MAX_STORED_CENTS}),
    currency TEXT NOT NULL,
    provider_ref TEXT NOT NULL,
    parent_key TEXT REFERENCES ledger (key),
    created_at TEXT NOT NULL
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
    available INTEGER NOT NULL CHECK (available >= 0)
);
CREATE TABLE reservations (
    key TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    items TEXT NOT NULL,
    released INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX reservations_order ON reservations (order_id);
CREATE TABLE order_claims (
    order_id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    claimed_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    order_id TEXT,
    message TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX outbox_order ON outbox (order_id)
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "ledger, inventory, order claims, outbox", _V1_POSTGRES, _V1_SQLITE),
)

#: The schema version this build needs.
LATEST_VERSION = MIGRATIONS[-1].version
