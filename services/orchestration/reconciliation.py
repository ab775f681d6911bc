"""Reconciliation: compare the payments ledger with how order sagas ended (run by a Schedule)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from services.contracts import (
        LEDGER_SUMMARY,
        OPS_RECIPIENT,
        RECONCILIATION_WORKFLOW,
        SAGA_OUTCOMES,
        SEND_NOTIFICATION,
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
        order_workflow_id,
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


@workflow.defn(name=RECONCILIATION_WORKFLOW)
class Reconciliation:
    """Find orphaned charges: captured for an order whose saga neither completed nor
    refunded them (failed, terminated, timed out, missing). Sends one notice to operations
    when it finds any. Captures younger than the grace period are left for the next run."""

    @workflow.run
    async def run(self, request: ReconciliationInput) -> ReconciliationReport:
        """Compare the ledger with saga outcomes; report and alert."""
        info = workflow.info()
        prefix = queue_prefix_of(info.task_queue)
        now = workflow.now()
        since = (now - timedelta(hours=request.lookback_hours)).isoformat(timespec="milliseconds")
        settled_before = (now - timedelta(minutes=request.grace_minutes)).isoformat(
            timespec="milliseconds"
        )
        ledger = await workflow.execute_activity(
            LEDGER_SUMMARY,
            LedgerSummaryRequest(since=since),
            task_queue=queue_name(TaskQueue.PAYMENTS, prefix=prefix),
            result_type=LedgerSummary,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
        )
        # Only sagas' captures (key `order-<id>:capture`), old enough, not fully refunded.
        suspects = {
            money.order_id: money
            for money in ledger.orders
            if f"{order_workflow_id(money.order_id)}:capture" in money.capture_keys
            and (money.first_capture_at or "") <= settled_before
            and money.refunded_cents < money.captured_cents
        }
        outcomes = await workflow.execute_activity(
            SAGA_OUTCOMES,
            SagaOutcomesRequest(order_ids=sorted(suspects)),
            result_type=SagaOutcomes,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
        )
        orphaned = [
            OrphanedCharge(
                order_id=o.order_id,
                currency=suspects[o.order_id].currency,
                captured_cents=suspects[o.order_id].captured_cents,
                refunded_cents=suspects[o.order_id].refunded_cents,
                saga_outcome=o.outcome,
            )
            for o in outcomes.outcomes
            if o.outcome not in SETTLED
        ]
        report = ReconciliationReport(checked_orders=len(ledger.orders), orphaned=orphaned)
        if orphaned:
            workflow.logger.warning("reconciliation found %d orphaned charges", len(orphaned))
            await workflow.execute_activity(
                SEND_NOTIFICATION,
                NotificationRequest(
                    dedupe_key=f"{info.workflow_id}:alert",
                    customer_id=OPS_RECIPIENT,
                    kind=NotificationKind.RECONCILIATION_ALERT,
                    data={
                        "orphaned": len(orphaned),
                        "orders": ",".join(o.order_id for o in orphaned[:50]),
                        "amount_cents": sum(o.captured_cents - o.refunded_cents for o in orphaned),
                    },
                ),
                task_queue=queue_name(TaskQueue.NOTIFICATIONS, prefix=prefix),
                result_type=NotificationReceipt,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=RETRY,
            )
            report.alert_sent = True
        return report
