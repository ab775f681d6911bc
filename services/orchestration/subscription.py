"""Subscription: a long-running entity billed monthly on workflow timers, with dunning,
plan changes, cancellation, and continue-as-new that carries the whole state."""

from __future__ import annotations

import calendar
import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, VersioningBehavior
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from services.contracts import (
        CANCEL,
        CHANGE_PLAN,
        CHARGE_PAYMENT,
        PAYMENT_DECLINED,
        PLAN_PRICES_CENTS,
        SEND_NOTIFICATION,
        STATUS_QUERY,
        SUBSCRIPTION_REFUSED,
        SUBSCRIPTION_WORKFLOW,
        CancelRequest,
        ChangePlanRequest,
        ChargePaymentRequest,
        ChargeRecord,
        NotificationKind,
        NotificationReceipt,
        NotificationRequest,
        PaymentResult,
        SubscriptionCarry,
        SubscriptionInput,
        SubscriptionState,
        SubscriptionStatus,
        TaskQueue,
        queue_name,
        queue_prefix_of,
    )

#: Charge records kept in the state (older ones live in the ledger and old runs).
HISTORY_KEPT = 24

ACTIVITY_TIMEOUT = timedelta(seconds=30)
#: A charge retries transient failures until they pass; only a decline ends an attempt.
CHARGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=60),
    non_retryable_error_types=[PAYMENT_DECLINED],
)
NOTIFY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(60))

ENDED = frozenset({SubscriptionState.CANCELLED, SubscriptionState.SUSPENDED})


def add_months(anchor: datetime, months: int) -> datetime:
    """`anchor` moved by whole calendar months, the day clamped to the month's length
    (billing anchored on Jan 31 bills Feb 28/29, then Mar 31)."""
    total = anchor.month - 1 + months
    year, month = anchor.year + total // 12, total % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def _refused(message: str) -> ApplicationError:
    return ApplicationError(message, type=SUBSCRIPTION_REFUSED, non_retryable=True)


# AUTO_UPGRADE: a subscription lives for years and must move to each new build at its next
# task, so changes to this class stay replay-compatible (patching) or wait for continue-as-new.
@workflow.defn(name=SUBSCRIPTION_WORKFLOW, versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class Subscription:
    """One customer's subscription, for as long as it lives.

    Cycle n is billed at `started_at + (n - 1) months`, once per cycle (idempotency key:
    workflow id + cycle + dunning try). A decline starts dunning: retries after
    `dunning_retry_days`, then suspension with a notice. `change_plan` applies from the
    next cycle; `cancel` stops billing at once. After `cycles_per_run` cycles, or when the
    server suggests it, the run continues as new, carrying the state, once every handler
    has finished.
    """

    @workflow.init
    def __init__(self, sub: SubscriptionInput) -> None:
        carry = sub.carry
        now = workflow.now()
        self._started_at = carry.started_at if carry else now
        self._status = SubscriptionStatus(
            subscription_id=sub.subscription_id,
            workflow_id=workflow.info().workflow_id,
            customer_id=sub.customer_id,
            state=SubscriptionState.ACTIVE,
            plan=carry.plan if carry else sub.plan,
            pending_plan=carry.pending_plan if carry else None,
            currency=sub.currency,
            cycles_billed=carry.cycles_billed if carry else 0,
            next_billing_at=carry.next_billing_at if carry else now,
            runs=carry.runs + 1 if carry else 1,
            history=list(carry.history) if carry else [],
        )

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> SubscriptionStatus:
        """Plan, state, cycles billed, next billing date and recent charges."""
        return self._status

    @workflow.update(name=CHANGE_PLAN)
    async def change_plan(self, request: ChangePlanRequest) -> SubscriptionStatus:
        """Bill `plan` from the next cycle on (asking for the current plan undoes a change)."""
        self._status.pending_plan = None if request.plan == self._status.plan else request.plan
        return self._status

    @change_plan.validator
    def _validate_change_plan(self, request: ChangePlanRequest) -> None:
        if self._status.state in ENDED:
            raise _refused(f"subscription is {self._status.state.value}")
        if request.plan not in PLAN_PRICES_CENTS:
            raise _refused(
                f"unknown plan {request.plan!r}; expected one of {sorted(PLAN_PRICES_CENTS)}"
            )
        if request.plan == (self._status.pending_plan or self._status.plan):
            raise _refused(f"already on plan {request.plan!r} from the next cycle")

    @workflow.update(name=CANCEL)
    async def cancel(self, request: CancelRequest) -> SubscriptionStatus:
        """Stop billing now; the workflow ends."""
        self._status.state = SubscriptionState.CANCELLED
        self._status.cancel_reason = request.reason or "cancelled by request"
        self._status.next_billing_at = None
        self._status.pending_plan = None
        return self._status

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        if self._status.state in ENDED:
            raise _refused(f"subscription is already {self._status.state.value}")

    @workflow.run
    async def run(self, sub: SubscriptionInput) -> SubscriptionStatus:
        """Bill cycle after cycle until cancelled or suspended."""
        prefix = queue_prefix_of(workflow.info().task_queue)
        self._payments_queue = queue_name(TaskQueue.PAYMENTS, prefix=prefix)
        self._notifications_queue = queue_name(TaskQueue.NOTIFICATIONS, prefix=prefix)
        cycles_this_run = 0
        while self._status.state not in ENDED:
            assert self._status.next_billing_at is not None
            if not await self._sleep_until(self._status.next_billing_at, "next-billing"):
                break
            await self._bill(sub, self._status.cycles_billed + 1)
            if self._status.state in ENDED:
                break
            cycles_this_run += 1
            if (
                cycles_this_run >= sub.cycles_per_run
                or workflow.info().is_continue_as_new_suggested()
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._status.state in ENDED:  # a cancel landed while we waited
                    break
                workflow.continue_as_new(sub.model_copy(update={"carry": self._carry()}))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._status

    def _carry(self) -> SubscriptionCarry:
        s = self._status
        assert s.next_billing_at is not None
        return SubscriptionCarry(
            plan=s.plan,
            pending_plan=s.pending_plan,
            cycles_billed=s.cycles_billed,
            next_billing_at=s.next_billing_at,
            started_at=self._started_at,
            runs=s.runs,
            history=s.history,
        )

    async def _sleep_until(self, at: datetime, summary: str) -> bool:
        """Durable timer to `at`, cut short by a cancel; False when cancelled."""
        delay = at - workflow.now()
        if delay > timedelta(0):
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._status.state in ENDED, timeout=delay, timeout_summary=summary
                )
        return self._status.state not in ENDED

    async def _bill(self, sub: SubscriptionInput, cycle: int) -> None:
        """Charge one cycle, with dunning; suspends when every retry is declined."""
        status = self._status
        if status.pending_plan is not None:
            status.plan, status.pending_plan = status.pending_plan, None
        plan, amount = status.plan, PLAN_PRICES_CENTS[status.plan]
        tries = len(sub.dunning_retry_days) + 1
        for attempt in range(1, tries + 1):
            charged = await self._charge(sub, cycle, attempt, amount)
            cancelled = status.state is SubscriptionState.CANCELLED  # during the charge
            if charged:
                status.cycles_billed = cycle
                self._record(
                    ChargeRecord(
                        cycle=cycle,
                        plan=plan,
                        amount_cents=amount,
                        attempts=attempt,
                        charged=True,
                        at=workflow.now(),
                    )
                )
                if not cancelled:
                    status.state = SubscriptionState.ACTIVE
                    status.dunning_attempt = 0
                    status.next_billing_at = add_months(self._started_at, cycle)
                return
            if cancelled:  # no dunning for a subscription that was cancelled meanwhile
                return
            status.state = SubscriptionState.PAST_DUE
            status.dunning_attempt = attempt
            await self._notify(
                sub,
                NotificationKind.SUBSCRIPTION_PAYMENT_FAILED,
                f"cycle-{cycle}:try-{attempt}",
                {"cycle": cycle, "amount_cents": amount, "attempt": attempt},
            )
            if attempt == tries:
                break
            retry_at = workflow.now() + timedelta(days=sub.dunning_retry_days[attempt - 1])
            if not await self._sleep_until(retry_at, "dunning-retry"):
                return
        if status.state is SubscriptionState.CANCELLED:
            return
        self._record(
            ChargeRecord(
                cycle=cycle,
                plan=plan,
                amount_cents=amount,
                attempts=tries,
                charged=False,
                at=workflow.now(),
            )
        )
        status.state = SubscriptionState.SUSPENDED
        status.next_billing_at = None
        await self._notify(
            sub, NotificationKind.SUBSCRIPTION_SUSPENDED, f"suspended-{cycle}", {"cycle": cycle}
        )

    async def _charge(self, sub: SubscriptionInput, cycle: int, attempt: int, amount: int) -> bool:
        """One charge attempt; False when the card is declined."""
        workflow_id = workflow.info().workflow_id
        try:
            await workflow.execute_activity(
                CHARGE_PAYMENT,
                ChargePaymentRequest(
                    idempotency_key=f"{workflow_id}:cycle-{cycle}:try-{attempt}",
                    order_id=workflow_id,
                    customer_id=sub.customer_id,
                    payment_method=sub.payment_method,
                    amount_cents=amount,
                    currency=sub.currency,
                ),
                task_queue=self._payments_queue,
                result_type=PaymentResult,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=CHARGE_RETRY,
            )
        except ActivityError as err:
            if isinstance(err.cause, ApplicationError) and err.cause.type == PAYMENT_DECLINED:
                return False
            raise
        return True

    def _record(self, record: ChargeRecord) -> None:
        self._status.history.append(record)
        del self._status.history[:-HISTORY_KEPT]

    async def _notify(
        self, sub: SubscriptionInput, kind: NotificationKind, step: str, data: dict[str, str | int]
    ) -> None:
        await workflow.execute_activity(
            SEND_NOTIFICATION,
            NotificationRequest(
                dedupe_key=f"{workflow.info().workflow_id}:{step}",
                customer_id=sub.customer_id,
                kind=kind,
                data={"subscription_id": sub.subscription_id, **data},
            ),
            task_queue=self._notifications_queue,
            result_type=NotificationReceipt,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=NOTIFY_RETRY,
        )


@workflow.defn(name=SUBSCRIPTION_WORKFLOW)
class UnversionedSubscription(Subscription):
    """`Subscription` for workers with Worker Versioning off: the same workflow without a
    versioning behavior (a server refuses one from an unversioned worker). Kept in this
    module so that a run's sandbox imports nothing more."""

    @workflow.run
    async def run(self, sub: SubscriptionInput) -> SubscriptionStatus:
        """See `Subscription.run`."""
        return await super().run(sub)
