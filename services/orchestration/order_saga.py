"""OrderSaga: authorize → reserve → capture → confirm, compensated in reverse on failure."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from services.contracts import (
        AUTHORIZE_PAYMENT,
        CAPTURE_PAYMENT,
        INVALID_ORDER,
        ORDER_SAGA_WORKFLOW,
        OUT_OF_STOCK,
        PAYMENT_DECLINED,
        REFUND_PAYMENT,
        RELEASE_INVENTORY,
        RESERVE_INVENTORY,
        SEND_NOTIFICATION,
        STATUS_QUERY,
        VOID_AUTHORIZATION,
        AuthorizePaymentRequest,
        CapturePaymentRequest,
        FailureInfo,
        InventoryResult,
        NotificationKind,
        NotificationReceipt,
        NotificationRequest,
        OrderInput,
        OrderState,
        OrderStatus,
        PaymentResult,
        RefundPaymentRequest,
        ReleaseInventoryRequest,
        ReserveInventoryRequest,
        TaskQueue,
        VoidAuthorizationRequest,
        queue_name,
        queue_prefix_of,
    )
    from services.orchestration.compensations import Compensations

#: Error types that end an order with compensation instead of failing the workflow.
BUSINESS_FAILURES = frozenset({PAYMENT_DECLINED, OUT_OF_STOCK})

#: Error type the saga fails with after compensating an unexpected failure.
ORDER_FAILED = "OrderFailed"

STEP_TIMEOUT = timedelta(seconds=30)
#: Forward steps: bounded retries for transient failures.
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=sorted(BUSINESS_FAILURES),
)
#: Compensations must happen: retry until they do (visible in the UI while pending).
COMPENSATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=60)
)


def describe_validation_error(error: ValidationError) -> str:
    """One line naming every bad field, e.g. `items.0.quantity: Input should be > 0`."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "order"
        parts.append(f"{where}: {item['msg']}")
    return "invalid order: " + "; ".join(parts)


def parse_order(raw: Any) -> OrderInput:
    """Validate raw JSON into an order, or raise a non-retryable `InvalidOrder` error."""
    try:
        return OrderInput.model_validate(raw)
    except ValidationError as exc:
        raise ApplicationError(
            describe_validation_error(exc), type=INVALID_ORDER, non_retryable=True
        ) from None


@workflow.defn(name=ORDER_SAGA_WORKFLOW)
class OrderSaga:
    """One order, end to end. Input is raw JSON, validated first so that a junk payload
    fails this workflow with `InvalidOrder` instead of wedging a workflow task."""

    def __init__(self) -> None:
        self._status: OrderStatus | None = None
        self._compensations = Compensations()
        self._current_step: str | None = None

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> OrderStatus:
        """Current state, steps done, compensations run and money moved."""
        if self._status is None:
            raise ApplicationError("order not validated yet", type="NotReady")
        return self._status

    @workflow.run
    async def run(self, order: Any) -> OrderStatus:
        """Run the saga; returns the final status (completed or compensated)."""
        parsed = parse_order(order)
        info = workflow.info()
        self._status = OrderStatus(
            order_id=parsed.order_id,
            workflow_id=info.workflow_id,
            state=OrderState.RECEIVED,
            currency=parsed.currency,
            total_cents=parsed.total_cents,
        )
        prefix = queue_prefix_of(info.task_queue)
        self._payments_queue = queue_name(TaskQueue.PAYMENTS, prefix=prefix)
        self._notifications_queue = queue_name(TaskQueue.NOTIFICATIONS, prefix=prefix)
        workflow.logger.info("order %s received: %s cents", parsed.order_id, parsed.total_cents)
        try:
            await self._forward(parsed)
        except asyncio.CancelledError:
            await self._cancelled(parsed)
            raise
        except ActivityError as err:
            if isinstance(err.cause, CancelledError):  # the workflow's cancel reached a step
                await self._cancelled(parsed)
                raise asyncio.CancelledError("order cancelled") from err
            failure = self._failure_of(err)
            await self._compensate(parsed, failure)
            if failure.type in BUSINESS_FAILURES:
                self._status.state = OrderState.COMPENSATED
                return self._status
            self._status.state = OrderState.FAILED
            raise ApplicationError(
                f"order {parsed.order_id} failed at {failure.step}: {failure.message}",
                self._status,
                type=ORDER_FAILED,
                non_retryable=True,
            ) from err
        self._status.state = OrderState.COMPLETED
        return self._status

    async def _cancelled(self, order: OrderInput) -> None:
        """Cancellation is a reason to compensate like any other."""
        assert self._status is not None
        failure = FailureInfo(type="Cancelled", message="order cancelled", step=self._current_step)
        await self._compensate(order, failure)
        self._status.state = OrderState.CANCELLED

    def _key(self, step: str) -> str:
        """Idempotency key from stable business identity: workflow id + step name."""
        return f"{workflow.info().workflow_id}:{step}"

    async def _forward(self, order: OrderInput) -> None:
        assert self._status is not None
        status = self._status
        auth_key, capture_key = self._key("authorize"), self._key("capture")

        status.state = OrderState.AUTHORIZING
        self._compensations.register(
            "void_authorization",
            lambda: self._payment(
                VOID_AUTHORIZATION,
                VoidAuthorizationRequest(
                    idempotency_key=self._key("void"),
                    order_id=order.order_id,
                    authorization_key=auth_key,
                ),
            ),
        )
        auth = await self._payment(
            AUTHORIZE_PAYMENT,
            AuthorizePaymentRequest(
                idempotency_key=auth_key,
                order_id=order.order_id,
                customer_id=order.customer_id,
                payment_method=order.payment_method,
                amount_cents=order.total_cents,
                currency=order.currency,
            ),
            step="authorize_payment",
        )
        status.payment.authorized_cents = auth.amount_cents

        status.state = OrderState.RESERVING
        reservation_key = self._key("reserve")
        self._compensations.register(
            "release_inventory",
            lambda: workflow.execute_activity(
                RELEASE_INVENTORY,
                ReleaseInventoryRequest(reservation_key=reservation_key),
                result_type=InventoryResult,
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=COMPENSATION_RETRY,
            ),
        )
        await self._step(
            "reserve_inventory",
            workflow.execute_activity(
                RESERVE_INVENTORY,
                ReserveInventoryRequest(
                    reservation_key=reservation_key, order_id=order.order_id, items=order.items
                ),
                result_type=InventoryResult,
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=STEP_RETRY,
            ),
        )

        status.state = OrderState.CAPTURING
        self._compensations.register(
            "refund_payment",
            lambda: self._payment(
                REFUND_PAYMENT,
                RefundPaymentRequest(
                    idempotency_key=self._key("refund"),
                    order_id=order.order_id,
                    capture_key=capture_key,
                ),
            ),
        )
        capture = await self._payment(
            CAPTURE_PAYMENT,
            CapturePaymentRequest(
                idempotency_key=capture_key,
                order_id=order.order_id,
                authorization_key=auth_key,
            ),
            step="capture_payment",
        )
        status.payment.captured_cents = capture.amount_cents

        status.state = OrderState.CONFIRMING
        try:
            await self._step(
                "send_confirmation",
                self._notify(order, NotificationKind.ORDER_CONFIRMED, STEP_RETRY),
            )
        except ActivityError as err:
            # The customer has paid and the goods are reserved: a lost e-mail must not
            # refund the order. Record it for follow-up instead.
            workflow.logger.warning("confirmation for %s not sent: %s", order.order_id, err)
            status.warnings.append(f"confirmation not sent: {err.cause or err}")

    async def _step(self, name: str, action: Any) -> Any:
        """Await one forward step, remembering which step a failure belongs to."""
        self._current_step = name
        result = await action
        assert self._status is not None
        self._status.steps_done.append(name)
        return result

    async def _payment(
        self, activity_name: str, request: Any, *, step: str | None = None
    ) -> PaymentResult:
        """Run a payments activity on the payments queue; forward steps retry bounded."""
        call = workflow.execute_activity(
            activity_name,
            request,
            task_queue=self._payments_queue,
            result_type=PaymentResult,
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=STEP_RETRY if step else COMPENSATION_RETRY,
        )
        if step is None:
            result: PaymentResult = await call
            self._record_compensation_money(result)
            return result
        step_result: PaymentResult = await self._step(step, call)
        return step_result

    def _record_compensation_money(self, result: PaymentResult) -> None:
        assert self._status is not None
        if not result.applied:
            return
        if result.kind == "refund":
            self._status.payment.refunded_cents += result.amount_cents
        elif result.kind == "void":
            self._status.payment.voided_cents += result.amount_cents

    def _notify(self, order: OrderInput, kind: NotificationKind, retry: RetryPolicy) -> Any:
        data: dict[str, str | int] = {
            "total_cents": order.total_cents,
            "currency": order.currency,
        }
        if self._status is not None and self._status.failure is not None:
            data["reason"] = self._status.failure.type
        return workflow.execute_activity(
            SEND_NOTIFICATION,
            NotificationRequest(
                dedupe_key=self._key(kind.value),
                customer_id=order.customer_id,
                kind=kind,
                order_id=order.order_id,
                data=data,
            ),
            task_queue=self._notifications_queue,
            result_type=NotificationReceipt,
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=retry,
        )

    async def _compensate(self, order: OrderInput, failure: FailureInfo) -> None:
        """Unwind every registered compensation, then tell the customer."""
        assert self._status is not None
        self._status.failure = failure
        self._status.state = OrderState.COMPENSATING
        workflow.logger.info(
            "order %s compensating after %s: %s", order.order_id, failure.type, failure.message
        )
        await self._compensations.unwind(self._status.compensations_run.append)
        await self._notify(order, NotificationKind.ORDER_FAILED, COMPENSATION_RETRY)
        self._status.compensations_run.append("notify_failure")

    def _failure_of(self, err: ActivityError) -> FailureInfo:
        step = self._current_step
        cause = err.cause
        if isinstance(cause, ApplicationError):
            return FailureInfo(
                type=cause.type or "ApplicationError", message=cause.message, step=step
            )
        return FailureInfo(type=type(cause or err).__name__, message=str(cause or err), step=step)
