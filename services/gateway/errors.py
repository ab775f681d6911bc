"""Temporal outcomes as HTTP answers: one place maps them, every route uses it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import (
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from services.contracts import ORDER_STATE_KEY
from services.gateway.models import FieldError
from services.orchestration.client import (
    IdempotencyKeyReusedError,
    OrderConflictError,
    OrderNotFoundError,
    OrderStatusUnavailableError,
)

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer other than success: status, kind and a sentence for a person (and, for a
    422, the invalid fields)."""

    def __init__(
        self, status: int, kind: str, detail: str, *, errors: list[FieldError] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.errors = errors


#: The statuses that mean "Temporal or its workers cannot answer now": retry later.
_UNREACHABLE = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
}


@asynccontextmanager
async def temporal_call(timeout: float, *, order_id: str | None = None) -> AsyncIterator[None]:
    """Bound a Temporal exchange to `timeout` seconds and translate what it raises."""
    what = f"order {order_id}" if order_id else "the request"
    try:
        async with asyncio.timeout(timeout):
            yield
    except TimeoutError:
        raise ApiError(
            503,
            "Unavailable",
            f"Temporal or the orchestration workers did not answer for {what} within "
            f"{timeout:g}s; retry later",
        ) from None
    except OrderConflictError as exc:
        raise ApiError(409, "OrderConflict", str(exc)) from None
    except IdempotencyKeyReusedError as exc:
        raise ApiError(409, "IdempotencyKeyReused", str(exc)) from None
    except OrderNotFoundError as exc:
        raise ApiError(404, "OrderNotFound", str(exc)) from None
    except OrderStatusUnavailableError as exc:
        raise ApiError(503, "Unavailable", str(exc)) from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise ApiError(
            503, "Unavailable", f"no orchestration worker answered for {what} within {timeout:g}s"
        ) from None
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError):
            raise ApiError(409, cause.type or "Refused", cause.message) from None
        raise ApiError(409, "Refused", str(cause)) from None
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise ApiError(404, "OrderNotFound", f"no {what}") from None
        if exc.status in _UNREACHABLE:
            raise ApiError(503, "Unavailable", f"Temporal unreachable: {exc.message}") from None
        logger.warning("Temporal refused a call for %s: %s", what, exc.message)
        raise ApiError(502, "TemporalError", exc.message) from None


def closed_order_error(
    order_id: str, description: WorkflowExecutionDescription, *, action: str
) -> ApiError:
    """409 `OrderClosed` for a decision or cancel on an order that has ended, naming how it
    ended: the saga's final published state (`completed`, `compensated`, `rejected`,
    `cancelled`) when it returned or was cancelled, else how its workflow closed (`failed`,
    `terminated`, `timed_out`)."""
    status = description.status
    outcome = status.name.lower() if status else "closed"
    published = description.typed_search_attributes.get(ORDER_STATE_KEY)
    if published and status in (
        WorkflowExecutionStatus.COMPLETED,
        WorkflowExecutionStatus.CANCELED,
    ):
        outcome = published
    return ApiError(
        409, "OrderClosed", f"order {order_id} has ended ({outcome}); it cannot be {action}"
    )


def may_exist(exc: ApiError, order_id: str) -> ApiError:
    """A 5xx of `POST /orders` that tells the client what to do: the start may have gone
    through before the answer was lost, so only a retry with the same key and body is safe."""
    return ApiError(
        exc.status,
        exc.kind,
        f"{exc.detail.removesuffix('; retry later').rstrip('.; ')}. Order {order_id} may "
        "exist now: retry with the same "
        "Idempotency-Key and body: that returns its status if it was created and starts it "
        "if not (under a new order id it would become a second order)",
    )
