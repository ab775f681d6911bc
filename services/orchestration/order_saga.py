"""OrderSaga: claim → authorize → reserve → [approval] → capture → confirm and ship,
compensated in reverse on failure or cancellation."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import VersioningBehavior
from temporalio.exceptions import (
    ApplicationError,
    FailureError,
)

with workflow.unsafe.imports_passed_through():
    from services.contracts import (
        ACCEPTED,
        APPROVE,
        INVALID_ORDER,
        ORDER_SAGA_WORKFLOW,
        REJECT,
        STATUS_QUERY,
        ApprovalDecision,
        ApprovalResult,
        FailureInfo,
        NotificationKind,
        OrderEventType,
        OrderInput,
        OrderPolicy,
        OrderState,
        OrderStatus,
        TaskQueue,
        order_workflow_id,
        outcome_event,
        queue_name,
        queue_prefix_of,
    )
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
    from services.orchestration.order_steps import SHIPMENT_LOST, OrderSteps
    from services.orchestration.saga_steps import (
        BUSINESS_FAILURES,
        stop_if_cancelled,
        to_the_end,
    )

__all__ = ["OrderSaga", "describe_validation_error", "parse_order"]

#: Error type the saga fails with after compensating an unexpected failure.
ORDER_FAILED = "OrderFailed"

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
class OrderSaga(OrderSteps):
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

        # `received`, published by the start, stands for the first steps (no upsert).
        self._set_state(OrderState.AUTHORIZING, publish=not self._visibility.published_at_start)
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


@workflow.defn(name=ORDER_SAGA_WORKFLOW)
class UnversionedOrderSaga(OrderSaga):
    """`OrderSaga` for workers with Worker Versioning off: the same workflow without a
    versioning behavior (a server refuses one from an unversioned worker). Kept in this
    module so that a run's sandbox imports nothing more."""

    @workflow.run
    async def run(self, *args: Any) -> OrderStatus:
        """See `OrderSaga.run`."""
        return await super().run(*args)
