"""Orchestration service: the workflows and orchestration-local activities."""

from services.orchestration.inventory import InventoryActivities, SqliteInventory
from services.orchestration.order_saga import OrderSaga, parse_order
from services.orchestration.worker import WORKFLOWS, orchestration_worker

__all__ = [
    "WORKFLOWS",
    "InventoryActivities",
    "OrderSaga",
    "SqliteInventory",
    "orchestration_worker",
    "parse_order",
]
