"""The workflows without a versioning behavior, for workers with Worker Versioning off.

A server refuses a workflow task that declares a behavior from a worker that is not
versioned, so `RTW_WORKER_VERSIONING=false` registers these twins instead: the same
workflow types, names and code, minus the behavior. Each twin lives next to its workflow.
"""

from __future__ import annotations

from services.orchestration.idempotency import UnversionedIdempotencyKey
from services.orchestration.order_saga import UnversionedOrderSaga
from services.orchestration.ping import UnversionedPing
from services.orchestration.reconciliation import UnversionedReconciliation
from services.orchestration.shipment import UnversionedShipment
from services.orchestration.subscription import UnversionedSubscription

#: The orchestration worker's workflows when Worker Versioning is off.
UNVERSIONED_WORKFLOWS: list[type] = [
    UnversionedOrderSaga,
    UnversionedShipment,
    UnversionedSubscription,
    UnversionedReconciliation,
    UnversionedPing,
    UnversionedIdempotencyKey,
]
