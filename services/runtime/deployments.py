"""Worker Deployments on the server: versions, routing (current, ramping), pollers, drainage.

The SDK's client has no high-level deployment API yet, so these call the workflow service's
Worker Deployment RPCs directly and return plain dataclasses.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.api.deployment.v1 import WorkerDeploymentInfo
from temporalio.api.enums.v1 import WorkerDeploymentVersionStatus
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_delay,
    wait_random_exponential,
)

from services.contracts import TaskQueue
from services.runtime.pollers import POLLED, describe_pollers
from services.runtime.versioning import PromoteOnStart, VersioningSettings, deployment_name

logger = logging.getLogger(__name__)

#: Promotion order: activity services first, so new workflows find their activities' code.
PROMOTION_ORDER = (TaskQueue.PAYMENTS, TaskQueue.NOTIFICATIONS, TaskQueue.ORCHESTRATION)
#: How many of a version's open workflows `drain-status` names.
LISTED_WORKFLOWS = 20
_RPC_TIMEOUT = timedelta(seconds=10)
_STATUS_NAMES = {
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_INACTIVE: "inactive",
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_CURRENT: "current",
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_RAMPING: "ramping",
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINING: "draining",
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINED: "drained",
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_CREATED: "created",
}


def _throttled(exc: BaseException) -> bool:
    """The server limits requests per Worker Deployment (replicas starting together)."""
    return isinstance(exc, RPCError) and (
        exc.status is RPCStatusCode.RESOURCE_EXHAUSTED or "too many requests" in exc.message
    )


def _retrying() -> AsyncRetrying:
    """Retries of a deployment RPC the server throttled, with jitter, for up to 60 s."""
    return AsyncRetrying(
        stop=stop_after_delay(60),
        wait=wait_random_exponential(multiplier=0.2, max=5),
        retry=retry_if_exception(_throttled),
        reraise=True,
    )


class DeploymentError(RuntimeError):
    """A deployment operation the server refused, or that did not finish in time."""


@dataclass(frozen=True)
class Target:
    """One queue's Worker Deployment."""

    queue: TaskQueue
    task_queue: str
    deployment: str


def targets(versioning: VersioningSettings, *, prefix: str) -> list[Target]:
    """The Worker Deployments of every queue, in promotion order."""
    return [
        Target(
            queue=queue,
            task_queue=f"{prefix}{queue.value}",
            deployment=deployment_name(versioning, queue, prefix=prefix),
        )
        for queue in PROMOTION_ORDER
    ]


@dataclass(frozen=True)
class OpenWorkflow:
    """A running workflow on a version."""

    workflow_id: str
    workflow_type: str


@dataclass
class VersionView:
    """One build of one deployment, as the server and the task queue see it."""

    build_id: str
    status: str
    pollers: int = 0
    open_pinned: int = 0
    open_workflows: list[OpenWorkflow] = field(default_factory=list)
    drained: bool = False
    """No new work is routed here and no pinned workflow is open on it: it can go."""


@dataclass
class DeploymentView:
    """One queue's Worker Deployment: routing and versions."""

    target: Target
    exists: bool
    current: str | None = None
    ramping: str | None = None
    ramp_percentage: float = 0.0
    versions: list[VersionView] = field(default_factory=list)

    def version(self, build_id: str) -> VersionView | None:
        """The view of one build, if the server knows it."""
        return next((v for v in self.versions if v.build_id == build_id), None)


def versioning_problem(exc: RPCError) -> str | None:
    """The one line to print when the server refuses Worker Versioning, else None."""
    if exc.status in (RPCStatusCode.UNIMPLEMENTED, RPCStatusCode.PERMISSION_DENIED) or (
        "disabled" in exc.message.lower()
    ):
        return (
            f"the Temporal server refuses Worker Versioning ({exc.message.rstrip('.')}): "
            "enable Worker Deployments there, or set RTW_WORKER_VERSIONING=false"
        )
    return None


async def describe(client: Client, name: str) -> WorkerDeploymentInfo | None:
    """The server's view of a Worker Deployment, or None when it does not exist yet."""
    try:
        async for attempt in _retrying():
            with attempt:
                response = await client.workflow_service.describe_worker_deployment(
                    DescribeWorkerDeploymentRequest(
                        namespace=client.namespace, deployment_name=name
                    ),
                    timeout=_RPC_TIMEOUT,
                )
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    return response.worker_deployment_info


async def check_versioning(client: Client, name: str) -> str | None:
    """Why this server cannot run versioned workers (one line), or None when it can (or when
    it only failed to answer now: polling will tell)."""
    try:
        await describe(client, name)
    except RPCError as exc:
        if (problem := versioning_problem(exc)) is not None:
            return problem
        logger.warning("cannot describe Worker Deployment %s: %s", name, exc.message)
    return None


async def pollers_by_build(client: Client, target: Target) -> dict[str, int]:
    """Workers polling the target's queue, by build id (the fewest over its task kinds).

    The server keeps listing a stopped worker for a few minutes.
    """
    per_kind: list[dict[str, int]] = []
    for kind in POLLED[target.queue]:
        counts: dict[str, int] = {}
        for poller in await describe_pollers(client, target.task_queue, kind, timeout=_RPC_TIMEOUT):
            options = poller.deployment_options
            if options.deployment_name == target.deployment and options.build_id:
                counts[options.build_id] = counts.get(options.build_id, 0) + 1
        per_kind.append(counts)
    builds = set().union(*per_kind)
    return {build: min(counts.get(build, 0) for counts in per_kind) for build in builds}


def _version_query(deployment: str, build_id: str, *, workflow_type: str | None = None) -> str:
    """Visibility query for running workflows pinned to one version (of one type)."""
    query = (
        f"TemporalWorkerDeploymentVersion = '{deployment}:{build_id}' "
        "AND ExecutionStatus = 'Running' AND TemporalWorkflowVersioningBehavior = 'Pinned'"
    )
    return query if workflow_type is None else f"{query} AND WorkflowType = '{workflow_type}'"


async def open_pinned(
    client: Client, deployment: str, build_id: str, *, workflow_type: str | None = None
) -> int:
    """Running workflows pinned to one version (they keep it alive until they close),
    optionally only those of one workflow type."""
    counted = await client.count_workflows(
        _version_query(deployment, build_id, workflow_type=workflow_type)
    )
    return counted.count


async def open_workflows(
    client: Client, deployment: str, build_id: str, *, limit: int = LISTED_WORKFLOWS
) -> list[OpenWorkflow]:
    """Up to `limit` running workflows pinned to one version."""
    found = []
    async for execution in client.list_workflows(_version_query(deployment, build_id), limit=limit):
        found.append(OpenWorkflow(execution.id, execution.workflow_type))
    return found


async def view(client: Client, target: Target, *, list_open: bool = False) -> DeploymentView:
    """Routing, versions, pollers and open pinned workflows of one queue's deployment."""
    info = await describe(client, target.deployment)
    if info is None:
        return DeploymentView(target=target, exists=False)
    routing = info.routing_config
    result = DeploymentView(
        target=target,
        exists=True,
        current=routing.current_deployment_version.build_id or None,
        ramping=routing.ramping_deployment_version.build_id or None,
        ramp_percentage=routing.ramping_version_percentage,
    )
    pollers = await pollers_by_build(client, target)
    for summary in info.version_summaries:
        build = summary.deployment_version.build_id
        version = VersionView(
            build_id=build,
            status=_STATUS_NAMES.get(summary.status, "unknown"),
            pollers=pollers.get(build, 0),
            open_pinned=await open_pinned(client, target.deployment, build),
        )
        version.drained = build not in (result.current, result.ramping) and not version.open_pinned
        if list_open and version.open_pinned:
            version.open_workflows = await open_workflows(client, target.deployment, build)
        result.versions.append(version)
    result.versions.sort(key=lambda v: (v.status not in ("current", "ramping"), v.build_id))
    return result


async def serves(client: Client, target: Target, build_id: str) -> bool:
    """Does `build_id` poll the target's queue (every task kind), and has the server
    registered it as a version of the deployment?"""
    if not (await pollers_by_build(client, target)).get(build_id, 0):
        return False
    info = await describe(client, target.deployment)
    return info is not None and any(
        s.deployment_version.build_id == build_id for s in info.version_summaries
    )


async def wait_for_pollers(
    client: Client, target: Target, build_id: str, *, timeout: float, interval: float = 1.0
) -> None:
    """Wait until `build_id` polls the target's queue (every task kind) and the server has
    registered the version; raise DeploymentError after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await serves(client, target, build_id):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise DeploymentError(
                f"build {build_id} has no pollers on task queue {target.task_queue} "
                f"(deployment {target.deployment}) after {timeout:.0f}s"
            )
        await asyncio.sleep(interval)


async def set_current(client: Client, target: Target, build_id: str, *, identity: str) -> None:
    """Route every new workflow (and auto-upgrade workflows' next tasks) to `build_id`."""
    async for attempt in _retrying():
        with attempt:
            await client.workflow_service.set_worker_deployment_current_version(
                SetWorkerDeploymentCurrentVersionRequest(
                    namespace=client.namespace,
                    deployment_name=target.deployment,
                    build_id=build_id,
                    identity=identity,
                ),
                timeout=_RPC_TIMEOUT,
            )


async def set_ramping(
    client: Client, target: Target, build_id: str, percentage: float, *, identity: str
) -> None:
    """Route `percentage` of new workflows to `build_id`; the rest stay on the current."""
    async for attempt in _retrying():
        with attempt:
            await client.workflow_service.set_worker_deployment_ramping_version(
                SetWorkerDeploymentRampingVersionRequest(
                    namespace=client.namespace,
                    deployment_name=target.deployment,
                    build_id=build_id,
                    percentage=percentage,
                    identity=identity,
                ),
                timeout=_RPC_TIMEOUT,
            )


async def claim_on_start(
    client: Client,
    target: Target,
    build_id: str,
    mode: PromoteOnStart,
    *,
    timeout: float = 30.0,
) -> str | None:
    """What a starting worker does for its own build: become current when `mode` says so
    (always, or when the deployment has no current version yet). Returns the deployment's
    current build afterwards (None: unversioned workers get new workflows)."""
    await wait_for_pollers(client, target, build_id, timeout=timeout, interval=0.5)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        info = await describe(client, target.deployment)
        current = info.routing_config.current_deployment_version.build_id if info else ""
        if (
            mode is PromoteOnStart.NEVER
            or current == build_id
            or (mode is PromoteOnStart.IF_UNSET and current)
        ):
            return current or None
        try:
            await set_current(client, target, build_id, identity=f"rtw worker {build_id}")
            return build_id
        except RPCError as exc:  # a replica racing us, or the version not registered yet
            if asyncio.get_running_loop().time() > deadline:
                raise DeploymentError(
                    f"cannot make {build_id} current on {target.deployment}: {exc.message}"
                ) from exc
            await asyncio.sleep(0.5)
