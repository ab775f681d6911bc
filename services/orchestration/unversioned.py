"""The workflows without a versioning behavior, for workers with Worker Versioning off.

A server refuses a workflow task that declares a behavior from a worker that is not
versioned, so `RTW_WORKER_VERSIONING=false` registers these twins instead: the same
workflow types, names and code, minus the behavior.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from services.contracts import (
        ORDER_SAGA_WORKFLOW,
        PING_WORKFLOW,
        RECONCILIATION_WORKFLOW,
        SHIPMENT_WORKFLOW,
        SUBSCRIPTION_WORKFLOW,
        OrderStatus,
        PingRequest,
        PingResult,
        ReconciliationInput,
        ReconciliationReport,
        ShipmentInput,
        ShipmentStatus,
        SubscriptionInput,
        SubscriptionStatus,
    )

from services.orchestration.order_saga import OrderSaga
from services.orchestration.ping import Ping
from services.orchestration.reconciliation import Reconciliation
from services.orchestration.shipment import Shipment
from services.orchestration.subscription import Subscription


@workflow.defn(name=ORDER_SAGA_WORKFLOW)
class UnversionedOrderSaga(OrderSaga):
    """`OrderSaga` on an unversioned worker."""

    @workflow.run
    async def run(self, *args: Any) -> OrderStatus:
        """See `OrderSaga.run`."""
        return await super().run(*args)


@workflow.defn(name=SHIPMENT_WORKFLOW)
class UnversionedShipment(Shipment):
    """`Shipment` on an unversioned worker."""

    @workflow.run
    async def run(self, shipment: ShipmentInput) -> ShipmentStatus:
        """See `Shipment.run`."""
        return await super().run(shipment)


@workflow.defn(name=SUBSCRIPTION_WORKFLOW)
class UnversionedSubscription(Subscription):
    """`Subscription` on an unversioned worker."""

    @workflow.run
    async def run(self, sub: SubscriptionInput) -> SubscriptionStatus:
        """See `Subscription.run`."""
        return await super().run(sub)


@workflow.defn(name=RECONCILIATION_WORKFLOW)
class UnversionedReconciliation(Reconciliation):
    """`Reconciliation` on an unversioned worker."""

    @workflow.run
    async def run(self, request: ReconciliationInput) -> ReconciliationReport:
        """See `Reconciliation.run`."""
        return await super().run(request)


@workflow.defn(name=PING_WORKFLOW)
class UnversionedPing(Ping):
    """`Ping` on an unversioned worker."""

    @workflow.run
    async def run(self, request: PingRequest) -> PingResult:
        """See `Ping.run`."""
        return await super().run(request)


#: The orchestration worker's workflows when Worker Versioning is off.
UNVERSIONED_WORKFLOWS: list[type] = [
    UnversionedOrderSaga,
    UnversionedShipment,
    UnversionedSubscription,
    UnversionedReconciliation,
    UnversionedPing,
]
