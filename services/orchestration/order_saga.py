"""OrderSaga: authorize → reserve → [approval] → capture → confirm → ship, compensated in
reverse on failure."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, VersioningBehavior
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ApplicationErrorCategory,
    CancelledError,
    ChildWorkflowError,
    FailureError,
)

with workflow.unsafe.imports_passed_through():
    from services.contracts import (
        ACCEPTED,
        APPROVAL_EXPIRED,
        APPROVAL_REFUSED,
        APPROVE,
        AUTHORIZE_PAYMENT,
        CAPTURE_PAYMENT,
        CLAIM_ORDER,
        CUSTOMER_ID_ATTRIBUTE,
        INVALID_ORDER,
        ORDER_POLICY,
        ORDER_REJECTED,
        ORDER_SAGA_WORKFLOW,
        ORDER_STATE_ATTRIBUTE,
        OUT_OF_STOCK,
        PAYMENT_DECLINED,
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
        ApprovalRequest,
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
        queue_name,
        queue_prefix_of,
        shipment_workflow_id,
    )
    from services.orchestration.compensations import Compensations
    from services.orchestration.order_input import (
        describe_validation_error,
        parse_decision,
        parse_order,
        parse_order_args,
    )

__all__ = ["OrderSaga", "describe_validation_error", "parse_order"]

#: Error types that end an order with compensation instead of failing the workflow.
BUSINESS_FAILURES = frozenset({PAYMENT_DECLINED, OUT_OF_STOCK})

#: Error type the saga fails with after compensating an unexpected failure.
ORDER_FAILED = "OrderFailed"

#: Failure type of an order whose parcel the carrier lost (refunded, stock not returned).
SHIPMENT_LOST = "ShipmentLost"

#: Decisions that end an order as `rejected`.
REJECTIONS = frozenset({ORDER_REJECTED, APPROVAL_EXPIRED})

#: States in which no approval decision can be taken any more.
FINISHED = frozenset(
    {
        OrderState.COMPENSATING,
        OrderState.COMPLETED,
        OrderState.COMPENSATED,
        OrderState.REJECTED,
        OrderState.CANCELLED,
        OrderState.FAILED,
    }
)

POLICY_TIMEOUT = timedelta(seconds=10)

ORDER_STATE_KEY = SearchAttributeKey.for_keyword(ORDER_STATE_ATTRIBUTE)
CUSTOMER_ID_KEY = SearchAttributeKey.for_keyword(CUSTOMER_ID_ATTRIBUTE)

STEP_TIMEOUT = timedelta(seconds=30)
#: Payment calls heartbeat while the provider works, so a payments worker killed mid-call
#: is noticed after this long (not after STEP_TIMEOUT) and the call retried elsewhere.
PAYMENT_HEARTBEAT_TIMEOUT = timedelta(seconds=4)
#: Stock and claim steps are single database transactions.
LOCAL_STEP_TIMEOUT = timedelta(seconds=10)
#: A refused claim waits this long so the refusal ends the run in a task of its own.
REFUSAL_PAUSE = timedelta(milliseconds=1)

#: At most this many warnings are kept in `status` (a flood of junk signals stays bounded).
MAX_WARNINGS = 50
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


# PINNED: an order finishes on the code it started on (up to 24 h of approval wait), so a
# new build can never break it; a Worker Deployment keeps the old build until it drains.
@workflow.defn(name=ORDER_SAGA_WORKFLOW, versioning_behavior=VersioningBehavior.PINNED)
class OrderSaga:
    """One order, end to end. Input is raw JSON, validated first so that a junk payload
    (malformed, undecodable, missing, extra, or under a workflow id other than
    `order-<order_id>`) fails this run at once with `InvalidOrder` instead of wedging a
    workflow task. The first step claims the order id for this run in the shared store, so a
    closed order's id started again ends as `OrderAlreadyExists` before anything moves.

    Orders at or above the policy's approval threshold wait, after authorization and
    reservation, for the `approve` / `reject` update (or signal) until a workflow timer
    auto-rejects them. After capture the `Shipment` child runs until the carrier reports
    delivered (completed) or lost (refund and notice).
    """

    def __init__(self) -> None:
        self._status: OrderStatus | None = None
        self._compensations = Compensations()
        self._current_step: str | None = None
        self._policy_known = False
        self._authorization: PaymentResult | None = None
        self._early_warnings: list[str] = []
        self._capture: PaymentResult | None = None
        self._customer_id = ""
        self._search_attributes = False
        self._customer_attribute = False
        self._published_state: OrderState | None = None

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
        return self._decide(ApprovalDecision.APPROVED, parse_decision(args))

    @approve.validator
    def _validate_approve(self, *args: Any) -> None:
        self._check_decidable(parse_decision(args))

    @workflow.update(name=REJECT)
    async def reject(self, *args: Any) -> ApprovalResult:
        """Reject a large order; the saga compensates and ends `rejected`."""
        return self._decide(ApprovalDecision.REJECTED, parse_decision(args))

    @reject.validator
    def _validate_reject(self, *args: Any) -> None:
        self._check_decidable(parse_decision(args))

    @workflow.signal(name=APPROVE)
    def approve_signal(self, *args: Any) -> None:
        """Fire-and-forget `approve`; ignored (with a warning in `status`) when invalid."""
        self._decide_from_signal(ApprovalDecision.APPROVED, args)

    @workflow.signal(name=REJECT)
    def reject_signal(self, *args: Any) -> None:
        """Fire-and-forget `reject`; ignored (with a warning in `status`) when invalid."""
        self._decide_from_signal(ApprovalDecision.REJECTED, args)

    def _warn(self, message: str) -> None:
        workflow.logger.warning("%s", message)
        if self._status is None:
            self._early_warnings.append(message)
            return
        if len(self._status.warnings) < MAX_WARNINGS:
            self._status.warnings.append(message)

    def _check_decidable(self, request: ApprovalRequest) -> None:
        """Raise `ApprovalRefused` unless a decision can be taken now (no side effects)."""

        def refuse(message: str) -> ApplicationError:
            return ApplicationError(message, type=APPROVAL_REFUSED, non_retryable=True)

        if not request.reviewer.strip():
            raise refuse("a reviewer is required")
        if self._status is None or not self._policy_known:
            raise refuse("the order is not ready for a decision yet; retry shortly")
        approval = self._status.approval
        if approval is None:
            raise refuse(f"order {self._status.order_id} does not need approval")
        if approval.decision is not None:
            raise refuse(f"order {self._status.order_id} is already {approval.decision.value}")
        if self._status.state in FINISHED:
            raise refuse(f"order {self._status.order_id} is {self._status.state.value}")

    def _decide(self, decision: ApprovalDecision, request: ApprovalRequest) -> ApprovalResult:
        assert self._status is not None
        assert self._status.approval is not None
        approval = self._status.approval
        approval.decision = decision
        approval.reviewer = request.reviewer.strip()
        approval.reason = request.reason
        approval.decided_at = workflow.now()
        workflow.logger.info(
            "order %s %s by %s", self._status.order_id, decision.value, approval.reviewer
        )
        return ApprovalResult(
            order_id=self._status.order_id,
            decision=decision,
            reviewer=approval.reviewer,
            reason=request.reason,
        )

    def _decide_from_signal(self, decision: ApprovalDecision, args: Any) -> None:
        try:
            request = parse_decision(args)
            self._check_decidable(request)
        except ApplicationError as refused:
            self._warn(f"{decision.value} signal ignored ({refused.type}): {refused.message}")
            return
        self._decide(decision, request)

    def _publish_state(self) -> None:
        """Keep the `RtwOrderState`/`RtwCustomerId` search attributes current, when the
        policy (recorded in the history) says the namespace has them."""
        if not self._search_attributes or self._status is None:
            return
        state = self._status.state
        if state is self._published_state:
            return
        updates = [ORDER_STATE_KEY.value_set(state.value)]
        if self._published_state is None and self._customer_attribute:
            updates.append(CUSTOMER_ID_KEY.value_set(self._customer_id))
        workflow.upsert_search_attributes(updates)
        self._published_state = state

    @workflow.run
    async def run(self, *args: Any) -> OrderStatus:
        """Run the saga; returns the final status (completed, compensated or rejected).

        Takes one order (plain JSON); see `parse_order_args` for what is refused.
        """
        parsed = parse_order_args(args)
        info = workflow.info()
        expected_id = order_workflow_id(parsed.order_id)
        if info.workflow_id != expected_id:
            raise ApplicationError(
                f"invalid order: workflow id {info.workflow_id!r} does not match order "
                f"{parsed.order_id!r}; start it as {expected_id!r}",
                type=INVALID_ORDER,
                non_retryable=True,
            )
        self._status = OrderStatus(
            order_id=parsed.order_id,
            workflow_id=info.workflow_id,
            state=OrderState.RECEIVED,
            currency=parsed.currency,
            total_cents=parsed.total_cents,
            warnings=self._early_warnings[:MAX_WARNINGS],
        )
        prefix = queue_prefix_of(info.task_queue)
        self._payments_queue = queue_name(TaskQueue.PAYMENTS, prefix=prefix)
        self._notifications_queue = queue_name(TaskQueue.NOTIFICATIONS, prefix=prefix)
        workflow.logger.info("order %s received: %s cents", parsed.order_id, parsed.total_cents)
        await self._claim(parsed)
        try:
            await self._forward(parsed)
        except asyncio.CancelledError:
            await self._cancelled(parsed)
            raise
        except FailureError as err:
            if isinstance(err, ApplicationError) and err.type == SHIPMENT_LOST:
                # The parcel left the warehouse: refund the customer, keep the stock written off.
                failure = FailureInfo(type=SHIPMENT_LOST, message=err.message, step="ship_order")
                await self._compensate(
                    parsed, failure, skip=("release_inventory", "void_authorization")
                )
                self._status.state = OrderState.COMPENSATED
            elif isinstance(err, ApplicationError) and err.type in REJECTIONS:
                failure = FailureInfo(type=err.type, message=err.message, step="approval")
                await self._compensate(parsed, failure)
                self._status.state = OrderState.REJECTED
            elif isinstance(err, CancelledError) or isinstance(err.cause, CancelledError):
                await self._cancelled(parsed)  # the workflow's cancel reached a step
                raise asyncio.CancelledError("order cancelled") from err
            else:
                # A step failed: an activity or the child (wrapped), or a local activity
                # (its error as raised, not wrapped in an ActivityError).
                failure = self._failure_of(err)
                await self._compensate(parsed, failure)
                if failure.type in BUSINESS_FAILURES:
                    self._status.state = OrderState.COMPENSATED
                else:
                    self._status.state = OrderState.FAILED
                    self._publish_state()
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    raise ApplicationError(
                        f"order {parsed.order_id} failed at {failure.step}: {failure.message}",
                        self._status,
                        type=ORDER_FAILED,
                        non_retryable=True,
                    ) from err
        else:
            self._status.state = OrderState.COMPLETED
        self._publish_state()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._status

    async def _claim(self, order: OrderInput) -> None:
        """Own the order id for this run, or end at once as `OrderAlreadyExists`."""
        assert self._status is not None
        info = workflow.info()
        try:
            # A local activity: one statement in the shared database, run inside the first
            # workflow task (no activity task for the server to schedule and match).
            await workflow.execute_local_activity(
                CLAIM_ORDER,
                OrderClaimRequest(
                    order_id=order.order_id, workflow_id=info.workflow_id, run_id=info.run_id
                ),
                result_type=OrderClaim,
                start_to_close_timeout=LOCAL_STEP_TIMEOUT,
                retry_policy=STEP_RETRY,
            )
        except FailureError as err:
            self._status.failure = self._failure_of(err)
            self._status.failure.step = "claim_order"
            self._status.state = OrderState.FAILED
            # End in a workflow task of its own: a query of the closed run replays the
            # history, and a local activity's outcome recorded in the run's last task is
            # not replayed into it (`status` would say `received`). Refusals only.
            await workflow.sleep(REFUSAL_PAUSE)
            cause = err.cause if isinstance(err, ActivityError) else err
            if isinstance(cause, ApplicationError):
                raise ApplicationError(cause.message, type=cause.type, non_retryable=True) from err
            raise

    async def _load_policy(self, order: OrderInput) -> OrderPolicy:
        """Read the deployment's policy once; recorded in history, so replay is stable."""
        assert self._status is not None
        policy: OrderPolicy = await workflow.execute_local_activity(
            ORDER_POLICY,
            OrderPolicyRequest(order_id=order.order_id),
            result_type=OrderPolicy,
            start_to_close_timeout=POLICY_TIMEOUT,
        )
        if order.total_cents >= policy.approval_threshold_cents:
            self._status.approval = ApprovalInfo(threshold_cents=policy.approval_threshold_cents)
        self._policy_known = True
        self._customer_id = order.customer_id
        self._search_attributes = policy.search_attributes
        self._customer_attribute = policy.search_attributes and policy.customer_search_attribute
        return policy

    async def _await_approval(self, policy: OrderPolicy) -> None:
        """Wait for `approve`/`reject` until the deadline; no decision in time rejects."""
        assert self._status is not None
        assert self._status.approval is not None
        approval = self._status.approval
        self._status.state = OrderState.AWAITING_APPROVAL
        self._publish_state()
        self._current_step = "approval"
        timeout = timedelta(seconds=policy.approval_timeout_seconds)
        approval.deadline = workflow.now() + timeout
        try:
            await workflow.wait_condition(
                lambda: approval.decision is not None,
                timeout=timeout,
                timeout_summary="approval-deadline",
            )
        except TimeoutError:
            approval.decision = ApprovalDecision.EXPIRED
            approval.decided_at = workflow.now()
            approval.reason = "no decision before the deadline"
        if approval.decision is ApprovalDecision.APPROVED:
            self._status.steps_done.append("approval")
            return
        if approval.decision is ApprovalDecision.EXPIRED:
            raise ApplicationError(
                f"no decision by {approval.deadline.isoformat()}",
                type=APPROVAL_EXPIRED,
                non_retryable=True,
                category=ApplicationErrorCategory.BENIGN,
            )
        raise ApplicationError(
            f"rejected by {approval.reviewer}: {approval.reason or 'no reason given'}",
            type=ORDER_REJECTED,
            non_retryable=True,
            category=ApplicationErrorCategory.BENIGN,
        )

    async def _ship(self, order: OrderInput, policy: OrderPolicy) -> None:
        """Run the `Shipment` child until the carrier reports delivered or lost."""
        assert self._status is not None
        self._status.state = OrderState.SHIPPING
        self._publish_state()
        self._current_step = "ship_order"
        workflow_id = shipment_workflow_id(order.order_id)
        self._status.shipment = ShipmentSummary(workflow_id=workflow_id, state="started")
        result: ShipmentStatus = await workflow.execute_child_workflow(
            SHIPMENT_WORKFLOW,
            ShipmentInput(
                order_id=order.order_id,
                customer_id=order.customer_id,
                pickup_sla_seconds=policy.shipment_pickup_sla_seconds,
                delivery_sla_seconds=policy.shipment_delivery_sla_seconds,
            ),
            id=workflow_id,
            task_queue=workflow.info().task_queue,
            result_type=ShipmentStatus,
        )
        self._status.shipment = ShipmentSummary(
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
        assert self._status is not None
        try:
            await self._notify(order, NotificationKind.ORDER_CONFIRMED, STEP_RETRY)
        except ActivityError as err:
            # The customer has paid and the goods are reserved: a lost e-mail must not
            # refund the order. Record it for follow-up instead.
            workflow.logger.warning("confirmation for %s not sent: %s", order.order_id, err)
            self._status.warnings.append(f"confirmation not sent: {err.cause or err}")
        else:
            self._status.steps_done.append("send_confirmation")

    async def _cancelled(self, order: OrderInput) -> None:
        """Cancellation is a reason to compensate like any other."""
        assert self._status is not None
        failure = FailureInfo(type="Cancelled", message="order cancelled", step=self._current_step)
        await self._compensate(order, failure)
        self._status.state = OrderState.CANCELLED
        self._publish_state()

    def _key(self, step: str) -> str:
        """Idempotency key from stable business identity, scoped to this run: a later run of
        the same order id can never reuse (or undo) this run's effects."""
        info = workflow.info()
        return f"{info.workflow_id}:{info.run_id}:{step}"

    async def _forward(self, order: OrderInput) -> None:
        assert self._status is not None
        status = self._status
        auth_key, capture_key = self._key("authorize"), self._key("capture")
        policy = await self._load_policy(order)

        status.state = OrderState.AUTHORIZING
        self._publish_state()
        self._compensations.register(
            "void_authorization",
            lambda: self._payment(
                VOID_AUTHORIZATION,
                VoidAuthorizationRequest(
                    idempotency_key=self._key("void"),
                    order_id=order.order_id,
                    authorization_key=auth_key,
                    authorization_ref=self._authorization.provider_ref
                    if self._authorization
                    else None,
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
        self._authorization = auth
        status.payment.authorized_cents = auth.amount_cents

        status.state = OrderState.RESERVING
        reservation_key = self._key("reserve")
        self._compensations.register(
            "release_inventory",
            lambda: workflow.execute_local_activity(
                RELEASE_INVENTORY,
                ReleaseInventoryRequest(reservation_key=reservation_key),
                result_type=InventoryResult,
                start_to_close_timeout=LOCAL_STEP_TIMEOUT,
                retry_policy=COMPENSATION_RETRY,
            ),
        )
        await self._step(
            "reserve_inventory",
            workflow.execute_local_activity(
                RESERVE_INVENTORY,
                ReserveInventoryRequest(
                    reservation_key=reservation_key, order_id=order.order_id, items=order.items
                ),
                result_type=InventoryResult,
                start_to_close_timeout=LOCAL_STEP_TIMEOUT,
                retry_policy=STEP_RETRY,
            ),
        )

        waited = status.approval is not None
        if waited:
            await self._await_approval(policy)
        status.state = OrderState.CAPTURING
        if waited:
            # Only after a wait is `capturing` worth a search-attribute write (the inbox
            # drops the order at once); otherwise it lasts one activity, and the next
            # write is `shipping`.
            self._publish_state()
        self._compensations.register(
            "refund_payment",
            lambda: self._payment(
                REFUND_PAYMENT,
                RefundPaymentRequest(
                    idempotency_key=self._key("refund"),
                    order_id=order.order_id,
                    capture_key=capture_key,
                    capture_ref=self._capture.provider_ref if self._capture else None,
                ),
            ),
        )
        capture = await self._payment(
            CAPTURE_PAYMENT,
            CapturePaymentRequest(
                idempotency_key=capture_key,
                order_id=order.order_id,
                authorization_key=auth_key,
                authorization_ref=auth.provider_ref or "",
                amount_cents=auth.amount_cents,
            ),
            step="capture_payment",
        )
        self._capture = capture
        status.payment.captured_cents = capture.amount_cents

        # The confirmation and the shipment both only need the capture: the parcel does
        # not wait for the e-mail (one workflow task and one round trip fewer).
        confirmation = asyncio.create_task(self._confirm(order))
        try:
            await self._ship(order, policy)
        finally:
            await confirmation
        status.steps_done.append("ship_order")

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
            heartbeat_timeout=PAYMENT_HEARTBEAT_TIMEOUT,
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

    async def _compensate(
        self, order: OrderInput, failure: FailureInfo, *, skip: tuple[str, ...] = ()
    ) -> None:
        """Unwind every registered compensation (but `skip`), then tell the customer."""
        assert self._status is not None
        self._status.failure = failure
        self._status.state = OrderState.COMPENSATING
        self._publish_state()
        workflow.logger.info(
            "order %s compensating after %s: %s", order.order_id, failure.type, failure.message
        )
        await self._compensations.unwind(self._status.compensations_run.append, skip=skip)
        await self._notify(order, NotificationKind.ORDER_FAILED, COMPENSATION_RETRY)
        self._status.compensations_run.append("notify_failure")

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
