"""OrderSaga's steps: each forward step with the compensation it registers first, the order
events it carries into its own transaction, and the calls to other queues."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    FailureError,
)

with workflow.unsafe.imports_passed_through():
    from pydantic import JsonValue

    from services.contracts import (
        AUTHORIZE_PAYMENT,
        CAPTURE_PAYMENT,
        CLAIM_ORDER,
        ORDER_POLICY,
        REFUND_PAYMENT,
        RELEASE_INVENTORY,
        RESERVE_INVENTORY,
        SEND_NOTIFICATION,
        SHIPMENT_WORKFLOW,
        VOID_AUTHORIZATION,
        ApprovalInfo,
        AuthorizePaymentRequest,
        CapturePaymentRequest,
        FailureInfo,
        InventoryResult,
        NotificationKind,
        NotificationReceipt,
        NotificationRequest,
        OrderClaim,
        OrderClaimRequest,
        OrderEvent,
        OrderEventType,
        OrderInput,
        OrderPolicy,
        OrderPolicyRequest,
        OrderState,
        OrderStatus,
        PaymentResult,
        RefundPaymentRequest,
        ReleaseInventoryRequest,
        ReserveInventoryRequest,
        ShipmentInput,
        ShipmentState,
        ShipmentStatus,
        ShipmentSummary,
        VoidAuthorizationRequest,
        shipment_workflow_id,
    )
    from services.orchestration.compensations import Compensations
    from services.orchestration.order_events import EventLog
    from services.orchestration.order_visibility import StatePublisher
    from services.orchestration.saga_steps import (
        COMPENSATION_RETRY,
        FORWARD_STEP_BUDGET,
        STEP_RETRY,
        STEP_TIMEOUT,
        local_call,
        payment_call,
        to_the_end,
    )

__all__ = ["OrderSteps"]

#: Failure type of an order whose parcel the carrier lost (refunded, stock not returned).
SHIPMENT_LOST = "ShipmentLost"

POLICY_TIMEOUT = timedelta(seconds=10)
#: A refused claim waits this long so the refusal ends the run in a task of its own.
REFUSAL_PAUSE = timedelta(milliseconds=1)


class OrderSteps:
    """The saga's state and its steps; `OrderSaga` adds the handlers and the order in which
    the steps run, and how the saga ends."""

    def __init__(self) -> None:
        self._status: OrderStatus | None = None
        self._compensations = Compensations()
        self._current_step: str | None = None
        self._policy_known = False
        self._authorization: PaymentResult | None = None
        self._capture: PaymentResult | None = None
        self._early_warnings: list[str] = []
        self._visibility = StatePublisher()
        self._events = EventLog("")
        #: The other queues of this deployment (set once the input is accepted).
        self._payments_queue = ""
        self._notifications_queue = ""

    @property
    def _order_status(self) -> OrderStatus:
        assert self._status is not None
        return self._status

    def _committed_anyway(self, step: str, amount_cents: int) -> None:
        """A payment step the saga saw fail that the store shows done (its result was lost
        to a cancel in the same workflow task): `status` says what happened; the
        compensation finds the movement by its key."""
        if not self._events.failed_step_committed:
            return
        payment = self._order_status.payment
        self._order_status.steps_done.append(step)
        if step == "authorize_payment":
            payment.authorized_cents = amount_cents
        else:
            payment.captured_cents = amount_cents

    def _set_state(self, state: OrderState, *, publish: bool = True) -> None:
        self._order_status.state = state
        if publish:
            self._visibility.publish(state)

    def _key(self, step: str) -> str:
        """Idempotency key from stable business identity, scoped to this run: a later run of
        the same order id can never reuse (or undo) this run's effects."""
        info = workflow.info()
        return f"{info.workflow_id}:{info.run_id}:{step}"

    # -- the steps ----------------------------------------------------------------------

    async def _claim(self, order: OrderInput) -> None:
        """Own the order id for this run (unknown SKUs refused), or end at once."""
        status = self._order_status
        info = workflow.info()
        request = OrderClaimRequest(
            order_id=order.order_id,
            workflow_id=info.workflow_id,
            run_id=info.run_id,
            skus=sorted({item.sku for item in order.items}),
        )
        received: dict[str, JsonValue] = {
            "customer_id": order.customer_id,
            "currency": order.currency,
            "total_cents": order.total_cents,
            "items": [item.model_dump(mode="json") for item in order.items],
        }
        try:
            await self._events.carry(
                lambda events: local_call(
                    CLAIM_ORDER,
                    request.model_copy(update={"events": events}),
                    result_type=OrderClaim,
                    forward=True,
                ),
                (OrderEventType.RECEIVED, received),
            )
        except FailureError as err:
            status.failure = self._failure_of(err)
            status.failure.step = "claim_order"
            status.state = OrderState.FAILED
            self._visibility.withdraw()
            # End in a workflow task of its own: a query of the closed run replays the
            # history, and a local activity's outcome recorded in the run's last task is
            # not replayed into it (`status` would say `received`). Refusals only.
            await workflow.sleep(REFUSAL_PAUSE)
            cause = err.cause if isinstance(err, ActivityError) else err
            if isinstance(cause, ApplicationError):
                raise ApplicationError(
                    cause.message, *cause.details, type=cause.type, non_retryable=True
                ) from err
            raise

    async def _load_policy(self, order: OrderInput) -> OrderPolicy:
        """Read the deployment's policy once; recorded in history, so replay is stable."""
        policy: OrderPolicy = await workflow.execute_local_activity(
            ORDER_POLICY,
            OrderPolicyRequest(order_id=order.order_id),
            result_type=OrderPolicy,
            start_to_close_timeout=POLICY_TIMEOUT,
        )
        if order.total_cents >= policy.approval_threshold_cents:
            self._order_status.approval = ApprovalInfo(
                threshold_cents=policy.approval_threshold_cents
            )
        self._policy_known = True
        self._visibility.enable(policy, order.customer_id)
        return policy

    async def _authorize(self, order: OrderInput) -> PaymentResult:
        auth_key = self._key("authorize")
        self._compensations.register(
            "void_authorization",
            lambda: self._events.carry(
                lambda events: self._payment(
                    VOID_AUTHORIZATION,
                    VoidAuthorizationRequest(
                        idempotency_key=self._key("void"),
                        order_id=order.order_id,
                        authorization_key=auth_key,
                        authorization_ref=self._authorization.provider_ref
                        if self._authorization
                        else None,
                        events=events,
                    ),
                ),
                (OrderEventType.VOIDED, {}),
            ),
        )
        request = AuthorizePaymentRequest(
            idempotency_key=auth_key,
            order_id=order.order_id,
            customer_id=order.customer_id,
            payment_method=order.payment_method,
            amount_cents=order.total_cents,
            currency=order.currency,
        )
        return await self._events.carry(
            lambda events: self._payment(
                AUTHORIZE_PAYMENT,
                request.model_copy(update={"events": events}),
                step="authorize_payment",
            ),
            (
                OrderEventType.AUTHORIZED,
                {"amount_cents": order.total_cents, "currency": order.currency},
            ),
        )

    async def _reserve(self, order: OrderInput) -> None:
        reservation_key = self._key("reserve")
        self._compensations.register(
            "release_inventory",
            lambda: self._events.carry(
                lambda events: local_call(
                    RELEASE_INVENTORY,
                    ReleaseInventoryRequest(reservation_key=reservation_key, events=events),
                    result_type=InventoryResult,
                    forward=False,
                ),
                (OrderEventType.RELEASED, {}),
            ),
        )
        request = ReserveInventoryRequest(
            reservation_key=reservation_key, order_id=order.order_id, items=order.items
        )
        reserved: list[JsonValue] = [{"sku": i.sku, "quantity": i.quantity} for i in order.items]
        await self._events.carry(
            lambda events: self._step(
                "reserve_inventory",
                local_call(
                    RESERVE_INVENTORY,
                    request.model_copy(update={"events": events}),
                    result_type=InventoryResult,
                    forward=True,
                ),
            ),
            (OrderEventType.RESERVED, {"items": reserved}),
        )

    async def _capture_payment(self, order: OrderInput, auth: PaymentResult) -> PaymentResult:
        capture_key = self._key("capture")
        self._compensations.register(
            "refund_payment",
            lambda: self._events.carry(
                lambda events: self._payment(
                    REFUND_PAYMENT,
                    RefundPaymentRequest(
                        idempotency_key=self._key("refund"),
                        order_id=order.order_id,
                        capture_key=capture_key,
                        capture_ref=self._capture.provider_ref if self._capture else None,
                        events=events,
                    ),
                ),
                (OrderEventType.REFUNDED, {}),
            ),
        )
        request = CapturePaymentRequest(
            idempotency_key=capture_key,
            order_id=order.order_id,
            authorization_key=self._key("authorize"),
            authorization_ref=auth.provider_ref or "",
            amount_cents=auth.amount_cents,
        )
        return await self._events.carry(
            lambda events: self._payment(
                CAPTURE_PAYMENT,
                request.model_copy(update={"events": events}),
                step="capture_payment",
            ),
            (
                OrderEventType.CAPTURED,
                {"amount_cents": auth.amount_cents, "currency": order.currency},
            ),
        )

    async def _ship(self, order: OrderInput, policy: OrderPolicy) -> None:
        """Run the `Shipment` child until the carrier reports delivered or lost."""
        status = self._order_status
        self._set_state(OrderState.SHIPPING)
        self._current_step = "ship_order"
        workflow_id = shipment_workflow_id(order.order_id)
        status.shipment = ShipmentSummary(workflow_id=workflow_id, state="started")
        # The booking records `order.shipping`; the child numbers the carrier's events
        # from the next seq on and hands back the ones it has not recorded.
        self._events.emit(OrderEventType.SHIPPING, shipment_workflow_id=workflow_id)
        handed = self._events.take()
        try:
            result: ShipmentStatus = await workflow.execute_child_workflow(
                SHIPMENT_WORKFLOW,
                ShipmentInput(
                    order_id=order.order_id,
                    customer_id=order.customer_id,
                    pickup_sla_seconds=policy.shipment_pickup_sla_seconds,
                    delivery_sla_seconds=policy.shipment_delivery_sla_seconds,
                    events=handed,
                    next_event_seq=self._events.next_seq,
                ),
                id=workflow_id,
                task_queue=workflow.info().task_queue,
                result_type=ShipmentStatus,
            )
        except GeneratorExit:  # evicted from the worker's cache: no workflow to resync in
            raise
        except BaseException:
            await to_the_end(self._events.resync(handed))
            raise
        self._events.adopt(result.next_event_seq, result.unrecorded_events)
        status.shipment = ShipmentSummary(
            workflow_id=workflow_id,
            state=result.state.value,
            tracking_number=result.tracking_number,
        )
        if result.state is ShipmentState.LOST:
            raise ApplicationError(
                f"carrier lost the parcel {result.tracking_number}",
                type=SHIPMENT_LOST,
                non_retryable=True,
            )

    async def _confirm(self, order: OrderInput) -> None:
        """Send the order confirmation; a failure is a warning, never a refund."""
        try:
            await self._notify(order, NotificationKind.ORDER_CONFIRMED, forward=True)
        except ActivityError as err:
            # The customer has paid and the goods are reserved: a lost e-mail must not
            # refund the order. Record it for follow-up instead.
            workflow.logger.warning("confirmation for %s not sent: %s", order.order_id, err)
            self._order_status.warnings.append(f"confirmation not sent: {err.cause or err}")
        else:
            self._order_status.steps_done.append("send_confirmation")

    async def _step(self, name: str, action: Any) -> Any:
        """Await one forward step, remembering which step a failure belongs to."""
        self._current_step = name
        result = await action
        self._order_status.steps_done.append(name)
        return result

    async def _payment(
        self, activity_name: str, request: Any, *, step: str | None = None
    ) -> PaymentResult:
        """A payments call: a forward step when `step` is named, else a compensation."""
        call = payment_call(
            activity_name,
            request,
            queue=self._payments_queue,
            result_type=PaymentResult,
            forward=step is not None,
        )
        if step is not None:
            forward: PaymentResult = await self._step(step, call)
            return forward
        result = await call
        payment = self._order_status.payment
        if result.applied and result.kind == "refund":
            payment.refunded_cents += result.amount_cents
        elif result.applied and result.kind == "void":
            payment.voided_cents += result.amount_cents
        return result

    def _notify(
        self,
        order: OrderInput,
        kind: NotificationKind,
        *,
        forward: bool,
        events: list[OrderEvent] | None = None,
    ) -> Any:
        data: dict[str, str | int] = {"total_cents": order.total_cents, "currency": order.currency}
        if self._order_status.failure is not None:
            data["reason"] = self._order_status.failure.type
        return workflow.execute_activity(
            SEND_NOTIFICATION,
            NotificationRequest(
                dedupe_key=self._key(kind.value),
                customer_id=order.customer_id,
                kind=kind,
                order_id=order.order_id,
                data=data,
                events=events or [],
            ),
            task_queue=self._notifications_queue,
            result_type=NotificationReceipt,
            start_to_close_timeout=STEP_TIMEOUT,
            schedule_to_close_timeout=FORWARD_STEP_BUDGET if forward else None,
            retry_policy=STEP_RETRY if forward else COMPENSATION_RETRY,
        )

    # -- how it ends --------------------------------------------------------------------

    def _failure_of(self, err: FailureError) -> FailureInfo:
        """What failed, for `status`: the cause of a wrapped failure, else the error."""
        step = self._current_step
        cause = err.cause if isinstance(err, (ActivityError, ChildWorkflowError)) else err
        if isinstance(cause, ApplicationError):
            return FailureInfo(
                type=cause.type or "ApplicationError", message=cause.message, step=step
            )
        return FailureInfo(type=type(cause or err).__name__, message=str(cause or err), step=step)
