"""Orchestration service: the workflows and orchestration-local activities.

The names below load on first use (PEP 562). The workflow sandbox imports this package
for every workflow run before it imports a workflow module, so it must stay cheap:
importing the worker, the stores and the Temporal client here would be redone per run.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.orchestration.carrier import CarrierActivities, PolicyActivities
    from services.orchestration.claims import ClaimActivities
    from services.orchestration.inventory import (
        InventoryActivities,
        PostgresInventory,
        SqliteInventory,
    )
    from services.orchestration.order_saga import OrderSaga, parse_order
    from services.orchestration.reconciliation import Reconciliation
    from services.orchestration.saga_outcomes import ReconciliationActivities
    from services.orchestration.settings import OrchestrationSettings
    from services.orchestration.shipment import Shipment
    from services.orchestration.subscription import Subscription
    from services.orchestration.worker import WORKFLOWS, orchestration_worker

_EXPORTS = {
    "WORKFLOWS": "worker",
    "CarrierActivities": "carrier",
    "InventoryActivities": "inventory",
    "OrchestrationSettings": "settings",
    "OrderSaga": "order_saga",
    "PolicyActivities": "carrier",
    "Reconciliation": "reconciliation",
    "ReconciliationActivities": "saga_outcomes",
    "Shipment": "shipment",
    "SqliteInventory": "inventory",
    "PostgresInventory": "inventory",
    "ClaimActivities": "claims",
    "Subscription": "subscription",
    "orchestration_worker": "worker",
    "parse_order": "order_saga",
}

__all__ = [
    "WORKFLOWS",
    "CarrierActivities",
    "ClaimActivities",
    "InventoryActivities",
    "OrchestrationSettings",
    "OrderSaga",
    "PolicyActivities",
    "PostgresInventory",
    "Reconciliation",
    "ReconciliationActivities",
    "Shipment",
    "SqliteInventory",
    "Subscription",
    "orchestration_worker",
    "parse_order",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
