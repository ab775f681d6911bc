"""The cross-queue API: queue names, workflow/activity names and their models.

Workflows reach other queues only through this package, never by importing another
service's implementation.
"""

from services.contracts.inventory import (
    OUT_OF_STOCK,
    RELEASE_INVENTORY,
    RESERVE_INVENTORY,
    InventoryResult,
    ReleaseInventoryRequest,
    ReserveInventoryRequest,
)
from services.contracts.notifications import (
    SEND_NOTIFICATION,
    NotificationKind,
    NotificationReceipt,
    NotificationRequest,
)
from services.contracts.orders import (
    ORDER_SAGA_WORKFLOW,
    STATUS_QUERY,
    SUPPORTED_CURRENCIES,
    FailureInfo,
    OrderInput,
    OrderItem,
    OrderState,
    OrderStatus,
    PaymentSummary,
    order_workflow_id,
)
from services.contracts.payments import (
    AUTHORIZATION_MISSING,
    AUTHORIZE_PAYMENT,
    CAPTURE_PAYMENT,
    PAYMENT_DECLINED,
    REFUND_PAYMENT,
    VOID_AUTHORIZATION,
    AuthorizePaymentRequest,
    CapturePaymentRequest,
    PaymentResult,
    RefundPaymentRequest,
    VoidAuthorizationRequest,
)
from services.contracts.queues import TaskQueue, queue_name, queue_prefix_of

#: Error type of a malformed order (non-retryable; the message names the field).
INVALID_ORDER = "InvalidOrder"

__all__ = [
    "AUTHORIZATION_MISSING",
    "AUTHORIZE_PAYMENT",
    "CAPTURE_PAYMENT",
    "INVALID_ORDER",
    "ORDER_SAGA_WORKFLOW",
    "OUT_OF_STOCK",
    "PAYMENT_DECLINED",
    "REFUND_PAYMENT",
    "RELEASE_INVENTORY",
    "RESERVE_INVENTORY",
    "SEND_NOTIFICATION",
    "STATUS_QUERY",
    "SUPPORTED_CURRENCIES",
    "VOID_AUTHORIZATION",
    "AuthorizePaymentRequest",
    "CapturePaymentRequest",
    "FailureInfo",
    "InventoryResult",
    "NotificationKind",
    "NotificationReceipt",
    "NotificationRequest",
    "OrderInput",
    "OrderItem",
    "OrderState",
    "OrderStatus",
    "PaymentResult",
    "PaymentSummary",
    "RefundPaymentRequest",
    "ReleaseInventoryRequest",
    "ReserveInventoryRequest",
    "TaskQueue",
    "VoidAuthorizationRequest",
    "order_workflow_id",
    "queue_name",
    "queue_prefix_of",
]
