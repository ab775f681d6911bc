"""Payments service: idempotent money movements behind a ledger (queue `payments`)."""

from services.payments.activities import PaymentActivities
from services.payments.ledger import (
    EntryKind,
    Ledger,
    LedgerEntry,
    LedgerViolationError,
    check_transition,
)
from services.payments.ledger_postgres import PostgresLedger
from services.payments.ledger_sqlite import SqliteLedger
from services.payments.provider import PaymentProvider, SimulatedProvider
from services.payments.worker import ledger_for, payments_worker

__all__ = [
    "EntryKind",
    "Ledger",
    "LedgerEntry",
    "LedgerViolationError",
    "PaymentActivities",
    "PaymentProvider",
    "PostgresLedger",
    "SimulatedProvider",
    "SqliteLedger",
    "check_transition",
    "ledger_for",
    "payments_worker",
]
