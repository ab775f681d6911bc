"""The Temporal calls Temporal's worker controller makes for one rollout, made the same way,
so a test can play the controller against the dev server.

Read in github.com/temporalio/temporal-worker-controller at v1.8.1 (commit 251c07d8aa6b):
- names: `<k8s namespace>/<WorkerDeployment>` (internal/k8s/deployments.go
  computeWorkerDeploymentName); gate workflow id `test-<deployment>:<build>-<task queue>`
  (internal/temporal/worker_deployment.go GetTestWorkflowID).
- the gate runs on every *workflow* task queue of the new version (worker_deployment.go
  GetTestWorkflowStatus skips the others), started with the gate input, a 1 h execution
  timeout, reject-duplicate / fail-on-conflict, pinned to the new version
  (internal/controller/execplan.go startTestWorkflows); no routing change until each one
  COMPLETED (internal/planner/planner.go getVersionConfigDiff).
- routing: SetManagerIdentity (self) once, then SetCurrentVersion or SetRampingVersion with the
  deployment's conflict token and the controller's identity (execplan.go updateVersionConfig);
  the first version becomes current at once (no current version, no unversioned poller),
  later ones ramp by the steps, then become current (planner.go handleProgressiveRollout).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.api.deployment.v1 import WorkerDeploymentVersion as VersionMessage
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    DescribeWorkerDeploymentVersionRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentManagerRequest,
    SetWorkerDeploymentRampingVersionRequest,
)
from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    PinnedVersioningOverride,
    WorkerDeploymentVersion,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

#: The controller's identity on the routing changes it makes (execplan.go getControllerIdentity).
IDENTITY = f"temporal-worker-controller/{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Routing:
    """A Worker Deployment's routing as the controller reads it."""

    current: str
    ramping: str
    ramp_percentage: float
    conflict_token: bytes
    versions: frozenset[str]


async def routing(client: Client, deployment: str) -> Routing:
    """DescribeWorkerDeployment (worker_deployment.go GetWorkerDeploymentState)."""
    response = await client.workflow_service.describe_worker_deployment(
        DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=deployment)
    )
    info = response.worker_deployment_info
    config = info.routing_config
    return Routing(
        current=config.current_deployment_version.build_id,
        ramping=config.ramping_deployment_version.build_id,
        ramp_percentage=config.ramping_version_percentage,
        conflict_token=response.conflict_token,
        versions=frozenset(s.deployment_version.build_id for s in info.version_summaries),
    )


async def gate_task_queues(client: Client, deployment: str, build: str) -> list[str]:
    """The version's workflow task queues: where the controller starts the gate."""
    response = await client.workflow_service.describe_worker_deployment_version(
        DescribeWorkerDeploymentVersionRequest(
            namespace=client.namespace,
            deployment_version=VersionMessage(deployment_name=deployment, build_id=build),
        )
    )
    return sorted(
        queue.name
        for queue in response.worker_deployment_version_info.task_queue_infos
        if queue.type == TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
    )


async def start_gate(
    client: Client, deployment: str, build: str, task_queue: str, workflow: str, gate_input: Any
) -> WorkflowHandle[Any, Any]:
    """The gate workflow on one task queue of the new version, pinned to it."""
    return await client.start_workflow(
        workflow,
        gate_input,
        id=f"test-{deployment}:{build}-{task_queue}",
        task_queue=task_queue,
        execution_timeout=timedelta(hours=1),
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        versioning_override=PinnedVersioningOverride(WorkerDeploymentVersion(deployment, build)),
    )


async def claim(client: Client, deployment: str) -> None:
    """SetManagerIdentity(self): from now on the deployment's routing is the controller's."""
    token = (await routing(client, deployment)).conflict_token
    await client.workflow_service.set_worker_deployment_manager(
        SetWorkerDeploymentManagerRequest(
            namespace=client.namespace,
            deployment_name=deployment,
            self=True,
            conflict_token=token,
            identity=IDENTITY,
        )
    )


async def set_ramping(client: Client, deployment: str, build: str, percentage: float) -> None:
    """SetRampingVersion with the current conflict token."""
    token = (await routing(client, deployment)).conflict_token
    await client.workflow_service.set_worker_deployment_ramping_version(
        SetWorkerDeploymentRampingVersionRequest(
            namespace=client.namespace,
            deployment_name=deployment,
            build_id=build,
            percentage=percentage,
            conflict_token=token,
            identity=IDENTITY,
        )
    )


async def set_current(client: Client, deployment: str, build: str) -> None:
    """SetCurrentVersion with the current conflict token."""
    token = (await routing(client, deployment)).conflict_token
    await client.workflow_service.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(
            namespace=client.namespace,
            deployment_name=deployment,
            build_id=build,
            conflict_token=token,
            identity=IDENTITY,
        )
    )
