"""Payments service: idempotent money movements behind a ledger (queue `payments`)."""

from services.payments.activities import PaymentActivities
from services.payments.ledger import EntryKind, Ledger, LedgerEntry, SqliteLedger
from services.payments.provider import PaymentProvider, SimulatedProvider
from services.payments.worker import payments_worker

__all__ = [
    "EntryKind",
    "Ledger",
    "LedgerEntry",
    "PaymentActivities",
    "PaymentProvider",
    "SimulatedProvider",
    "SqliteLedger",
    "payments_worker",
]
