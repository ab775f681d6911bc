"""OrderSaga's approval step: who may decide and when, recording a decision, and the wait.

Pure functions over the saga's `OrderStatus`, safe inside the workflow sandbox: the
workflow's `approve`/`reject` handlers (updates and signals) call them.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

with workflow.unsafe.imports_passed_through():
    from services.contracts import (
        APPROVAL_EXPIRED,
        APPROVAL_REFUSED,
        ORDER_REJECTED,
        ApprovalDecision,
        ApprovalRequest,
        ApprovalResult,
        OrderState,
        OrderStatus,
    )

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

#: Decisions that end an order as `rejected`.
REJECTIONS = frozenset({ORDER_REJECTED, APPROVAL_EXPIRED})


def check_decidable(status: OrderStatus | None, request: ApprovalRequest) -> None:
    """Raise `ApprovalRefused` unless a decision can be taken now (no side effects).

    `status` is None until the saga has validated its input and read its policy.
    """

    def refuse(message: str) -> ApplicationError:
        return ApplicationError(message, type=APPROVAL_REFUSED, non_retryable=True)

    if not request.reviewer.strip():
        raise refuse("a reviewer is required")
    if status is None:
        raise refuse("the order is not ready for a decision yet; retry shortly")
    approval = status.approval
    if approval is None:
        raise refuse(f"order {status.order_id} does not need approval")
    if approval.decision is not None:
        raise refuse(f"order {status.order_id} is already {approval.decision.value}")
    if status.state in FINISHED:
        raise refuse(f"order {status.order_id} is {status.state.value}")


def record_decision(
    status: OrderStatus, decision: ApprovalDecision, request: ApprovalRequest
) -> ApprovalResult:
    """Write a checked decision into `status` (the waiting saga wakes up on it)."""
    approval = status.approval
    assert approval is not None
    approval.decision = decision
    approval.reviewer = request.reviewer.strip()
    approval.reason = request.reason
    approval.decided_at = workflow.now()
    workflow.logger.info("order %s %s by %s", status.order_id, decision.value, approval.reviewer)
    return ApprovalResult(
        order_id=status.order_id,
        decision=decision,
        reviewer=approval.reviewer,
        reason=request.reason,
    )


async def await_decision(status: OrderStatus, timeout: timedelta) -> None:
    """Wait for `approve`/`reject` until the deadline; no decision in time rejects.

    Returns when approved; raises `OrderRejected` or `ApprovalExpired` (benign, final).
    """
    approval = status.approval
    assert approval is not None
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
