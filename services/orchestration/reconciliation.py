"""Reconciliation: compare the payments ledger with how order sagas ended (run by a Schedule)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, VersioningBehavior

with workflow.unsafe.imports_passed_through():
    from services.contracts import (
        LEDGER_SUMMARY,
        OPS_RECIPIENT,
        RECONCILIATION_WORKFLOW,
        SAGA_OUTCOMES,
        SEND_NOTIFICATION,
        DanglingAuthorization,
        LedgerSummary,
        LedgerSummaryRequest,
        NotificationKind,
        NotificationReceipt,
        NotificationRequest,
        OrphanedCharge,
        ReconciliationInput,
        ReconciliationReport,
        SagaOutcomes,
        SagaOutcomesRequest,
        TaskQueue,
        queue_name,
        queue_prefix_of,
    )

#: Saga outcomes under which a capture is accounted for.
SETTLED = frozenset({"completed", "running"})

ACTIVITY_TIMEOUT = timedelta(minutes=2)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)


# PINNED: each scheduled run takes seconds and finishes on the build it started on; the next
# run the Schedule starts picks up the current build, so it never needs patching.
@workflow.defn(name=RECONCILIATION_WORKFLOW, versioning_behavior=VersioningBehavior.PINNED)
class Reconciliation:
    """Find money the sagas left behind, and send one notice to operations when any is found:

    - orphaned charges: a saga capture for an order whose saga neither completed nor
      refunded it (failed, terminated, timed out, missing);
    - dangling authorizations: money held on a card (authorized, neither captured nor
      voided) past `authorization_max_age_minutes`, for an order whose saga is not running.

    The ledger is filtered in SQL by time window; captures younger than the grace period
    are left for the next run.
    """

    @workflow.run
    async def run(self, request: ReconciliationInput) -> ReconciliationReport:
        """Compare the ledger with saga outcomes; report and alert."""
        info = workflow.info()
        prefix = queue_prefix_of(info.task_queue)
        now = workflow.now()

        def ago(**delta: int) -> str:
            return (now - timedelta(**delta)).isoformat(timespec="milliseconds")

        settled_before = ago(minutes=request.grace_minutes)
        ledger = await workflow.execute_activity(
            LEDGER_SUMMARY,
            LedgerSummaryRequest(
                since=ago(hours=request.lookback_hours),
                dangling_before=ago(minutes=request.authorization_max_age_minutes),
            ),
            task_queue=queue_name(TaskQueue.PAYMENTS, prefix=prefix),
            result_type=LedgerSummary,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
        )
        suspects = {
            money.order_id: money
            for money in ledger.orders
            if (money.first_capture_at or "") <= settled_before
            and money.refunded_cents < money.captured_cents
        }
        holds = {a.order_id: a for a in ledger.open_authorizations}
        outcomes = await workflow.execute_activity(
            SAGA_OUTCOMES,
            SagaOutcomesRequest(order_ids=sorted(set(suspects) | set(holds))),
            result_type=SagaOutcomes,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
        )
        outcome_of = {o.order_id: o.outcome for o in outcomes.outcomes}
        orphaned = [
            OrphanedCharge(
                order_id=order_id,
                currency=money.currency,
                captured_cents=money.captured_cents,
                refunded_cents=money.refunded_cents,
                saga_outcome=outcome_of.get(order_id, "missing"),
            )
            for order_id, money in sorted(suspects.items())
            if outcome_of.get(order_id, "missing") not in SETTLED
        ]
        dangling = [
            DanglingAuthorization(
                order_id=order_id,
                idempotency_key=hold.idempotency_key,
                currency=hold.currency,
                amount_cents=hold.amount_cents,
                authorized_at=hold.authorized_at,
                saga_outcome=outcome_of.get(order_id, "missing"),
            )
            for order_id, hold in sorted(holds.items())
            if outcome_of.get(order_id, "missing") != "running"
        ]
        report = ReconciliationReport(
            checked_orders=len(ledger.orders) + len(ledger.open_authorizations),
            orphaned=orphaned,
            dangling=dangling,
        )
        if orphaned or dangling:
            workflow.logger.warning(
                "reconciliation found %d orphaned charges, %d dangling authorizations",
                len(orphaned),
                len(dangling),
            )
            await workflow.execute_activity(
                SEND_NOTIFICATION,
                NotificationRequest(
                    dedupe_key=f"{info.workflow_id}:{info.run_id}:alert",
                    customer_id=OPS_RECIPIENT,
                    kind=NotificationKind.RECONCILIATION_ALERT,
                    data={
                        "orphaned": len(orphaned),
                        "dangling": len(dangling),
                        "orders": ",".join(
                            sorted({o.order_id for o in orphaned} | {d.order_id for d in dangling})[
                                :50
                            ]
                        ),
                        "amount_cents": sum(o.captured_cents - o.refunded_cents for o in orphaned),
                        "held_cents": sum(d.amount_cents for d in dangling),
                    },
                ),
                task_queue=queue_name(TaskQueue.NOTIFICATIONS, prefix=prefix),
                result_type=NotificationReceipt,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=RETRY,
            )
            report.alert_sent = True
        return report


@workflow.defn(name=RECONCILIATION_WORKFLOW)
class UnversionedReconciliation(Reconciliation):
    """`Reconciliation` for workers with Worker Versioning off: the same workflow without a
    versioning behavior (a server refuses one from an unversioned worker). Kept in this
    module so that a run's sandbox imports nothing more."""

    @workflow.run
    async def run(self, request: ReconciliationInput) -> ReconciliationReport:
        """See `Reconciliation.run`."""
        return await super().run(request)
