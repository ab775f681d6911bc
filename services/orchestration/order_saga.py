"""OrderSaga: claim → authorize → reserve → [approval] → capture → confirm and ship,
compensated in reverse on failure or cancellation."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import VersioningBehavior
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    FailureError,
)

with workflow.unsafe.imports_passed_through():
    from pydantic import JsonValue

    from services.contracts import (
        ACCEPTED,
        APPROVE,
        AUTHORIZE_PAYMENT,
        CAPTURE_PAYMENT,
        CLAIM_ORDER,
        INVALID_ORDER,
        ORDER_POLICY,
        ORDER_SAGA_WORKFLOW,
        REFUND_PAYMENT,
        REJECT,
        RELEASE_INVENTORY,
        RESERVE_INVENTORY,
        SEND_NOTIFICATION,
        SHIPMENT_WORKFLOW,
        STATUS_QUERY,
        VOID_AUTHORIZATION,
        ApprovalDecision,
        ApprovalInfo,
        ApprovalResult,
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
        TaskQueue,
        VoidAuthorizationRequest,
        order_workflow_id,
        outcome_event,
        queue_name,
        queue_prefix_of,
        shipment_workflow_id,
    )
    from services.orchestration.compensations import Compensations
    from services.orchestration.order_approval import (
        REJECTIONS,
        await_decision,
        check_decidable,
        record_decision,
    )
    from services.orchestration.order_events import EventLog
    from services.orchestration.order_input import (
        describe_validation_error,
        parse_decision,
        parse_order,
        parse_order_args,
    )
    from services.orchestration.order_visibility import StatePublisher
    from services.orchestration.saga_steps import (
        BUSINESS_FAILURES,
        COMPENSATION_RETRY,
        FORWARD_STEP_BUDGET,
        STEP_RETRY,
        STEP_TIMEOUT,
        local_call,
        payment_call,
        stop_if_cancelled,
        to_the_end,
    )

__all__ = ["OrderSaga", "describe_validation_error", "parse_order"]

#: Error type the saga fails with after compensating an unexpected failure.
ORDER_FAILED = "OrderFailed"

#: Failure type of an order whose parcel the carrier lost (refunded, stock not returned).
SHIPMENT_LOST = "ShipmentLost"

POLICY_TIMEOUT = timedelta(seconds=10)
#: A refused claim waits this long so the refusal ends the run in a task of its own.
REFUSAL_PAUSE = timedelta(milliseconds=1)

#: The event of each approval decision.
DECISION_EVENTS = {
    ApprovalDecision.APPROVED: OrderEventType.APPROVED,
    ApprovalDecision.REJECTED: OrderEventType.REJECTED_BY_REVIEWER,
    ApprovalDecision.EXPIRED: OrderEventType.APPROVAL_EXPIRED,
}

#: At most this many warnings are kept in `status` (a flood of junk signals stays bounded).
MAX_WARNINGS = 50


# PINNED: an order finishes on the code it started on (up to 24 h of approval wait), so a
# new build can never break it; a Worker Deployment keeps the old build until it drains.
@workflow.defn(name=ORDER_SAGA_WORKFLOW, versioning_behavior=VersioningBehavior.PINNED)
class OrderSaga:
    """One order, end to end. Input is raw JSON, validated first so that a junk payload
    (malformed, undecodable, missing, extra, or under a workflow id other than
    `order-<order_id>`) fails this run at once with `InvalidOrder` instead of wedging a
    workflow task. The first step claims the order id for this run in the shared store (and
    checks every SKU against the catalogue), so a closed order's id started again ends as
    `OrderAlreadyExists`, and an unknown SKU as `InvalidOrder`, before anything moves.

    Orders at or above the policy's approval threshold wait, after authorization and
    reservation, for the `approve` / `reject` update (or signal) until a workflow timer
    auto-rejects them. After capture the `Shipment` child runs until the carrier reports
    delivered (completed) or lost (refund and notice). A cancel at any moment ends the order
    `cancelled` with nothing charged, held or reserved (see `saga_steps`).
    """

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

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> OrderStatus:
        """Current state, steps done, compensations run and money moved."""
        if self._status is None:
            raise ApplicationError("order not validated yet", type="NotReady")
        return self._status

    @workflow.update(name=ACCEPTED)
    async def accepted(self) -> OrderStatus:
        """Wait until the input is validated; return the status (read-only)."""
        await workflow.wait_condition(lambda: self._status is not None)
        assert self._status is not None
        return self._status

    # -- human in the loop: updates (validated) and signals of the same names ----------

    @workflow.update(name=APPROVE)
    async def approve(self, *args: Any) -> ApprovalResult:
        """Approve a large order; the saga goes on to capture. Payload: ApprovalRequest."""
        return self._decide(ApprovalDecision.APPROVED, args)

    @approve.validator
    def _validate_approve(self, *args: Any) -> None:
        check_decidable(self._decidable_status(), parse_decision(args))

    @workflow.update(name=REJECT)
    async def reject(self, *args: Any) -> ApprovalResult:
        """Reject a large order; the saga compensates and ends `rejected`."""
        return self._decide(ApprovalDecision.REJECTED, args)

    @reject.validator
    def _validate_reject(self, *args: Any) -> None:
        check_decidable(self._decidable_status(), parse_decision(args))

    @workflow.signal(name=APPROVE)
    def approve_signal(self, *args: Any) -> None:
        """Fire-and-forget `approve`; ignored (with a warning in `status`) when invalid."""
        self._decide_from_signal(ApprovalDecision.APPROVED, args)

    @workflow.signal(name=REJECT)
    def reject_signal(self, *args: Any) -> None:
        """Fire-and-forget `reject`; ignored (with a warning in `status`) when invalid."""
        self._decide_from_signal(ApprovalDecision.REJECTED, args)

    def _decidable_status(self) -> OrderStatus | None:
        """The status once the policy is known (before that, no decision can be taken)."""
        return self._status if self._policy_known else None

    def _decide(self, decision: ApprovalDecision, args: Any) -> ApprovalResult:
        assert self._status is not None
        return record_decision(self._status, decision, parse_decision(args))

    def _decide_from_signal(self, decision: ApprovalDecision, args: Any) -> None:
        try:
            request = parse_decision(args)
            check_decidable(self._decidable_status(), request)
        except ApplicationError as refused:
            self._warn(f"{decision.value} signal ignored ({refused.type}): {refused.message}")
            return
        assert self._status is not None
        record_decision(self._status, decision, request)

    def _warn(self, message: str) -> None:
        workflow.logger.warning("%s", message)
        if self._status is None:
            self._early_warnings.append(message)
        elif len(self._status.warnings) < MAX_WARNINGS:
            self._status.warnings.append(message)

    # -- the saga ---------------------------------------------------------------------

    @workflow.run
    async def run(self, *args: Any) -> OrderStatus:
        """Run the saga; returns the final status (completed, compensated or rejected).

        Takes one order (plain JSON); see `parse_order_args` for what is refused.
        """
        order = self._accept(args)
        try:
            await self._claim(order)
        except asyncio.CancelledError:
            # Cancelled as the claim landed (its result lost to the cancel, but its
            # `order.received` is in the store): the order is this run's, and ends
            # `cancelled` like any other. A claim that never ran leaves nothing to undo.
            if self._events.failed_step_committed:
                await self._end_cancelled(order)
            raise
        try:
            await self._forward(order)
        except asyncio.CancelledError:
            await self._end_cancelled(order)
            raise
        except FailureError as err:
            await self._end_failed(order, err)
        else:
            self._set_state(OrderState.COMPLETED)
            # No step is left to carry it: the orchestration-local activity records it.
            self._events.emit(
                OrderEventType.COMPLETED, total_cents=order.total_cents, currency=order.currency
            )
            await to_the_end(self._events.flush())
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._order_status

    @property
    def _order_status(self) -> OrderStatus:
        assert self._status is not None
        return self._status

    def _accept(self, args: Any) -> OrderInput:
        """Validate the input and the workflow id; from here on `status` answers."""
        order = parse_order_args(args)
        info = workflow.info()
        expected_id = order_workflow_id(order.order_id)
        if info.workflow_id != expected_id:
            raise ApplicationError(
                f"invalid order: workflow id {info.workflow_id!r} does not match order "
                f"{order.order_id!r}; start it as {expected_id!r}",
                type=INVALID_ORDER,
                non_retryable=True,
            )
        self._status = OrderStatus(
            order_id=order.order_id,
            workflow_id=info.workflow_id,
            state=OrderState.RECEIVED,
            currency=order.currency,
            total_cents=order.total_cents,
            warnings=self._early_warnings[:MAX_WARNINGS],
        )
        self._events = EventLog(order.order_id)
        prefix = queue_prefix_of(info.task_queue)
        self._payments_queue = queue_name(TaskQueue.PAYMENTS, prefix=prefix)
        self._notifications_queue = queue_name(TaskQueue.NOTIFICATIONS, prefix=prefix)
        workflow.logger.info("order %s received: %s cents", order.order_id, order.total_cents)
        return order

    async def _forward(self, order: OrderInput) -> None:
        """The happy path, top to bottom. Each step registers its compensation before it
        starts, and the saga stops after any step that a cancel arrived during."""
        status = self._order_status
        stop_if_cancelled()  # a cancel that arrived during the claim
        policy = await self._load_policy(order)

        self._set_state(OrderState.AUTHORIZING)
        try:
            self._authorization = await self._authorize(order)
        except BaseException:
            self._committed_anyway("authorize_payment", order.total_cents)
            raise
        status.payment.authorized_cents = self._authorization.amount_cents
        stop_if_cancelled()

        self._set_state(OrderState.RESERVING, publish=False)
        await self._reserve(order)
        stop_if_cancelled()

        waited = status.approval is not None
        if waited:
            await self._approval(policy)
        # Only after a wait is `capturing` worth a search-attribute write (the inbox drops
        # the order at once); otherwise it lasts one activity, and the next is `shipping`.
        self._set_state(OrderState.CAPTURING, publish=waited)
        try:
            self._capture = await self._capture_payment(order, self._authorization)
        except BaseException:
            self._committed_anyway("capture_payment", self._authorization.amount_cents)
            raise
        status.payment.captured_cents = self._capture.amount_cents
        stop_if_cancelled()

        # The confirmation and the shipment both only need the capture: the parcel does
        # not wait for the e-mail (one workflow task and one round trip fewer).
        confirmation = asyncio.create_task(self._confirm(order))
        try:
            await self._ship(order, policy)
        finally:
            await confirmation
        status.steps_done.append("ship_order")

    async def _approval(self, policy: OrderPolicy) -> None:
        """Wait for a reviewer's decision; both ends are events of their own (the live
        inbox shows the order at once, and drops it at once), recorded by the
        orchestration-local activity in the workflow task that made them."""
        status = self._order_status
        approval = status.approval
        assert approval is not None
        timeout = timedelta(seconds=policy.approval_timeout_seconds)
        self._set_state(OrderState.AWAITING_APPROVAL)
        self._current_step = "approval"
        self._events.emit(
            OrderEventType.AWAITING_APPROVAL,
            threshold_cents=approval.threshold_cents,
            deadline=(workflow.now() + timeout).isoformat(),
        )
        await self._events.flush()
        try:
            await await_decision(status, timeout)
        finally:
            if approval.decision is not None:
                self._events.emit(DECISION_EVENTS[approval.decision], reviewer=approval.reviewer)
        await self._events.flush()  # approved: the capture is next, and may take a while
        status.steps_done.append("approval")

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

    async def _end_failed(self, order: OrderInput, err: FailureError) -> None:
        """Compensate after a failed step and settle the final state; raises `OrderFailed`
        for an unexpected failure, `CancelledError` when the order was cancelled meanwhile."""
        if isinstance(err, ApplicationError) and err.type == SHIPMENT_LOST:
            # The parcel left the warehouse: refund the customer, keep the stock written off.
            failure = FailureInfo(type=SHIPMENT_LOST, message=err.message, step="ship_order")
            await self._compensate(
                order,
                failure,
                OrderState.COMPENSATED,
                skip=("release_inventory", "void_authorization"),
            )
            self._set_state(OrderState.COMPENSATED)
            return
        if workflow.cancellation_reason() is not None:
            # A step failed or was cancelled after the cancel request: either way, cancelled.
            await self._end_cancelled(order)
            raise asyncio.CancelledError("order cancelled") from err
        if isinstance(err, ApplicationError) and err.type in REJECTIONS:
            failure = FailureInfo(type=err.type, message=err.message, step="approval")
            await self._compensate(order, failure, OrderState.REJECTED)
            self._set_state(OrderState.REJECTED)
            return
        failure = self._failure_of(err)
        outcome = OrderState.COMPENSATED if failure.type in BUSINESS_FAILURES else OrderState.FAILED
        await self._compensate(order, failure, outcome)
        if failure.type in BUSINESS_FAILURES:
            self._set_state(OrderState.COMPENSATED)
            return
        self._set_state(OrderState.FAILED)
        await workflow.wait_condition(workflow.all_handlers_finished)
        raise ApplicationError(
            f"order {order.order_id} failed at {failure.step}: {failure.message}",
            self._order_status,
            type=ORDER_FAILED,
            non_retryable=True,
        ) from err

    async def _end_cancelled(self, order: OrderInput) -> None:
        """Cancellation is a reason to compensate like any other."""
        failure = FailureInfo(type="Cancelled", message="order cancelled", step=self._current_step)
        await self._compensate(order, failure, OrderState.CANCELLED)
        self._set_state(OrderState.CANCELLED)

    async def _compensate(
        self,
        order: OrderInput,
        failure: FailureInfo,
        outcome: OrderState,
        *,
        skip: tuple[str, ...] = (),
    ) -> None:
        """Unwind every registered compensation (but `skip`), then tell the customer; runs
        to the end even if a cancel arrives meanwhile. The notice carries the order's last
        event, `outcome` (nothing of the saga's is left to happen after it)."""
        status = self._order_status
        status.failure = failure
        self._set_state(OrderState.COMPENSATING)
        # The reason's type and step only: a message may name the payment method.
        self._events.emit(OrderEventType.COMPENSATING, reason=failure.type, step=failure.step)
        workflow.logger.info(
            "order %s compensating after %s: %s", order.order_id, failure.type, failure.message
        )

        async def unwind() -> None:
            await self._compensations.unwind(status.compensations_run.append, skip=skip)
            await self._events.carry(
                lambda events: self._notify(
                    order, NotificationKind.ORDER_FAILED, forward=False, events=events
                ),
                (OrderEventType.FAILURE_NOTIFIED, {}),
                (outcome_event(outcome.value), {"reason": failure.type}),
            )
            status.compensations_run.append("notify_failure")

        await to_the_end(unwind())

    def _failure_of(self, err: FailureError) -> FailureInfo:
        """What failed, for `status`: the cause of a wrapped failure, else the error."""
        step = self._current_step
        cause = err.cause if isinstance(err, (ActivityError, ChildWorkflowError)) else err
        if isinstance(cause, ApplicationError):
            return FailureInfo(
                type=cause.type or "ApplicationError", message=cause.message, step=step
            )
        return FailureInfo(type=type(cause or err).__name__, message=str(cause or err), step=step)


@workflow.defn(name=ORDER_SAGA_WORKFLOW)
class UnversionedOrderSaga(OrderSaga):
    """`OrderSaga` for workers with Worker Versioning off: the same workflow without a
    versioning behavior (a server refuses one from an unversioned worker). Kept in this
    module so that a run's sandbox imports nothing more."""

    @workflow.run
    async def run(self, *args: Any) -> OrderStatus:
        """See `OrderSaga.run`."""
        return await super().run(*args)
