"""Every workflow declares its Worker Versioning behavior on purpose; the twins for
unversioned workers declare none and keep the workflow types."""

from __future__ import annotations

import pytest
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker, WorkerDeploymentConfig

from services.orchestration import WORKFLOWS
from services.orchestration.unversioned import UNVERSIONED_WORKFLOWS

EXPECTED = {
    "OrderSaga": VersioningBehavior.PINNED,
    "Shipment": VersioningBehavior.PINNED,
    "Subscription": VersioningBehavior.AUTO_UPGRADE,
    "Reconciliation": VersioningBehavior.PINNED,
    "Ping": VersioningBehavior.PINNED,
    "IdempotencyKey": VersioningBehavior.AUTO_UPGRADE,
}


def _versioned_worker(client: Client, workflows: list[type]) -> Worker:
    return Worker(
        client,
        task_queue="behaviors",
        workflows=workflows,
        deployment_config=WorkerDeploymentConfig(
            version=WorkerDeploymentVersion("rtw-orchestration", "b1"),
            use_worker_versioning=True,
        ),
    )


def test_each_workflow_has_the_intended_behavior() -> None:
    found = {
        getattr(cls, "__temporal_workflow_definition").name: getattr(
            cls, "__temporal_workflow_definition"
        ).versioning_behavior
        for cls in WORKFLOWS
    }
    assert found == EXPECTED


async def test_a_versioned_worker_accepts_them_and_refuses_the_twins(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    _versioned_worker(time_skipping_env.client, WORKFLOWS)  # every behavior is declared

    with pytest.raises(ValueError, match="must specify a versioning behavior"):
        _versioned_worker(time_skipping_env.client, UNVERSIONED_WORKFLOWS)


def test_the_twins_keep_the_workflow_types() -> None:
    def names(classes: list[type]) -> list[str]:
        return [getattr(c, "__temporal_workflow_definition").name for c in classes]

    assert names(UNVERSIONED_WORKFLOWS) == names(WORKFLOWS)
