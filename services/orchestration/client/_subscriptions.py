"""Subscriptions: start once per id, and their handles."""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from services.contracts import (
    SUBSCRIPTION_WORKFLOW,
    SubscriptionInput,
    SubscriptionStatus,
    subscription_workflow_id,
)


def subscription_handle(
    client: Client, subscription_id: str
) -> WorkflowHandle[object, SubscriptionStatus]:
    """Handle of a subscription (follows continue-as-new: no run id)."""
    return client.get_workflow_handle(
        subscription_workflow_id(subscription_id), result_type=SubscriptionStatus
    )


async def start_subscription(
    client: Client, subscription: SubscriptionInput, *, task_queue: str
) -> tuple[WorkflowHandle[object, SubscriptionStatus], bool]:
    """Start a subscription once per id; returns its handle and whether this call started it."""
    try:
        handle: WorkflowHandle[object, SubscriptionStatus] = await client.start_workflow(
            SUBSCRIPTION_WORKFLOW,
            subscription,
            id=subscription_workflow_id(subscription.subscription_id),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            result_type=SubscriptionStatus,
        )
    except WorkflowAlreadyStartedError:
        return subscription_handle(client, subscription.subscription_id), False
    return handle, True
