"""Client-side API of the workflows: starting orders (once per id), reading them (status, how
they ended), deciding them (approve, reject, cancel), shipments and subscriptions."""

from __future__ import annotations

from services.contracts import IDEMPOTENCY_KEY
from services.orchestration.client._deciding import cancel_order, decide_order
from services.orchestration.client._reading import (
    FINAL_STATES,
    STATUS_QUERY_TIMEOUT,
    OrderNotFoundError,
    OrderOutcome,
    OrderStatusUnavailableError,
    explain_order,
    order_handle,
    order_status,
    owning_run,
    wait_for_order,
    workflow_pollers,
)
from services.orchestration.client._shipments import send_carrier_event, shipment_status
from services.orchestration.client._starting import (
    CURRENCY_MEMO,
    IDEMPOTENCY_KEY_MEMO,
    IDEMPOTENCY_KEY_PATTERN,
    INPUT_SHA256_MEMO,
    TOTAL_CENTS_MEMO,
    IdempotencyKeyReusedError,
    OrderConflictError,
    StartedOrder,
    SubmittedOrder,
    existing_order,
    order_fingerprint,
    order_id_of_key,
    order_memo,
    start_order,
    submit_order,
)
from services.orchestration.client._subscriptions import start_subscription, subscription_handle

__all__ = [
    "CURRENCY_MEMO",
    "FINAL_STATES",
    "IDEMPOTENCY_KEY",
    "IDEMPOTENCY_KEY_MEMO",
    "IDEMPOTENCY_KEY_PATTERN",
    "INPUT_SHA256_MEMO",
    "STATUS_QUERY_TIMEOUT",
    "TOTAL_CENTS_MEMO",
    "IdempotencyKeyReusedError",
    "OrderConflictError",
    "OrderNotFoundError",
    "OrderOutcome",
    "OrderStatusUnavailableError",
    "StartedOrder",
    "SubmittedOrder",
    "cancel_order",
    "decide_order",
    "existing_order",
    "explain_order",
    "order_fingerprint",
    "order_handle",
    "order_id_of_key",
    "order_memo",
    "order_status",
    "owning_run",
    "send_carrier_event",
    "shipment_status",
    "start_order",
    "start_subscription",
    "submit_order",
    "subscription_handle",
    "wait_for_order",
    "workflow_pollers",
]
