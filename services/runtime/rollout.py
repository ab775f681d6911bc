"""Moving work between builds: promote one, check one has drained, and find the builds a
release would strand (open pinned workflows on a build whose workers it removes)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from temporalio.client import Client

from services.runtime.deployments import (
    DeploymentError,
    OpenWorkflow,
    Target,
    describe,
    open_pinned,
    open_workflows,
    pollers_by_build,
    serves,
    set_current,
    set_ramping,
    view,
)

logger = logging.getLogger(__name__)

#: How long `promote` waits for a build some deployment already knows, unless told.
DEFAULT_WAIT_SECONDS = 60.0
#: A wait longer than this says what it waits for; then again every PROGRESS_EVERY_SECONDS.
QUIET_WAIT_SECONDS = 2.0
PROGRESS_EVERY_SECONDS = 15.0
#: How many open pinned workflows the guard reads to learn their types (all are counted).
TYPED_SAMPLE = 1000

#: Receives one line for a person (what a long wait waits for).
Report = Callable[[str], None]


class UnknownBuildError(DeploymentError):
    """No Worker Deployment has seen the build: nothing polls as it, nothing registered it."""

    def __init__(self, build_id: str, known: dict[str, list[str]]):
        self.build_id = build_id
        self.known = known
        listed = "; ".join(
            f"{deployment}: {', '.join(builds) or 'none'}" for deployment, builds in known.items()
        )
        super().__init__(
            f"no Worker Deployment knows build {build_id} (known builds: {listed or 'none'})"
        )


def _label(view_current: str | None, view_ramping: str | None, build: str) -> str:
    if build == view_current:
        return f"{build} (current)"
    if build == view_ramping:
        return f"{build} (ramping)"
    return build


async def known_builds(client: Client, deployments: Sequence[Target]) -> dict[str, list[str]]:
    """Per deployment, the builds the server has registered (current and ramping marked)."""
    found: dict[str, list[str]] = {}
    for target in deployments:
        info = await describe(client, target.deployment)
        if info is None:
            found[target.deployment] = []
            continue
        routing = info.routing_config
        current = routing.current_deployment_version.build_id or None
        ramping = routing.ramping_deployment_version.build_id or None
        found[target.deployment] = sorted(
            _label(current, ramping, s.deployment_version.build_id) for s in info.version_summaries
        )
    return found


async def _seen(client: Client, deployments: Sequence[Target], build_id: str) -> bool:
    """Has any deployment registered the build, or does it poll any queue already?"""
    for target in deployments:
        info = await describe(client, target.deployment)
        if info is not None and any(
            s.deployment_version.build_id == build_id for s in info.version_summaries
        ):
            return True
        if (await pollers_by_build(client, target)).get(build_id, 0):
            return True
    return False


async def wait_until_served(
    client: Client,
    deployments: Sequence[Target],
    build_id: str,
    *,
    timeout: float,
    report: Report | None = None,
    interval: float = 1.0,
) -> None:
    """Wait until `build_id` serves every deployment's queue (polls it and is registered).

    A wait longer than QUIET_WAIT_SECONDS reports which queues it still waits for; raises
    DeploymentError naming them after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    next_report = started + QUIET_WAIT_SECONDS
    while True:
        missing = [t for t in deployments if not await serves(client, t, build_id)]
        if not missing:
            return
        now = loop.time()
        queues = ", ".join(t.task_queue for t in missing)
        names = ", ".join(t.deployment for t in missing)
        if now - started >= timeout:
            raise DeploymentError(
                f"build {build_id} has no pollers on task queue(s) {queues} "
                f"(Worker Deployment(s) {names}) after {timeout:.0f}s"
            )
        if report is not None and now >= next_report:
            report(
                f"waiting for build {build_id} to poll task queue(s) {queues} "
                f"(Worker Deployment(s) {names}); {timeout - (now - started):.0f}s left"
            )
            next_report = now + PROGRESS_EVERY_SECONDS
        await asyncio.sleep(interval)


async def _routed_already(
    client: Client, target: Target, build_id: str, ramp: float | None
) -> bool:
    """Is `build_id` already current (or ramping at `ramp` percent) on the deployment?

    Asked first (DescribeWorkerDeployment is not billed) because routing a build where it
    already goes is not free: the server answers the same identity's request with a
    rejected update (one billable action per deployment) and another identity's with an
    accepted one and its bookkeeping (six per deployment), measured with `rtw bench cost`.
    A `helm upgrade` that changes no image runs the promote hook again: now it costs nothing.
    """
    info = await describe(client, target.deployment)
    if info is None:
        return False
    routing = info.routing_config
    if ramp is None or ramp >= 100:
        return routing.current_deployment_version.build_id == build_id and not (
            routing.ramping_deployment_version.build_id
        )
    return (
        routing.ramping_deployment_version.build_id == build_id
        and routing.ramping_version_percentage == ramp
    )


async def promote(
    client: Client,
    deployments: Sequence[Target],
    build_id: str,
    *,
    ramp: float | None = None,
    wait_seconds: float | None = None,
    identity: str = "rtw deployment promote",
    report: Report | None = None,
) -> None:
    """Make `build_id` current (or ramping at `ramp` percent) on every deployment, once it
    polls every deployment's queue; activity services are promoted before orchestration.

    `wait_seconds` None: a build no deployment has seen is refused at once (UnknownBuildError
    lists the known ones); one that exists gets DEFAULT_WAIT_SECONDS to poll everywhere.
    """
    if wait_seconds is None:
        if not await _seen(client, deployments, build_id):
            raise UnknownBuildError(build_id, await known_builds(client, deployments))
        wait_seconds = DEFAULT_WAIT_SECONDS
    await wait_until_served(client, deployments, build_id, timeout=wait_seconds, report=report)
    for target in deployments:
        if await _routed_already(client, target, build_id, ramp):
            logger.info("%s: %s already routed so; nothing changed", target.deployment, build_id)
        elif ramp is None or ramp >= 100:
            await set_current(client, target, build_id, identity=identity)
        else:
            await set_ramping(client, target, build_id, ramp, identity=identity)
        logger.info(
            "%s: %s is %s",
            target.deployment,
            build_id,
            "current" if ramp is None or ramp >= 100 else f"ramping at {ramp:g}%",
        )


@dataclass(frozen=True)
class Drainage:
    """Whether a build can be retired on one deployment, and what still runs there."""

    deployment: str
    build_id: str
    known: bool
    routed: bool
    open_pinned: int
    workflows: list[OpenWorkflow]
    server_status: str

    @property
    def drained(self) -> bool:
        """No new work goes there and no pinned workflow is open on it."""
        return not self.routed and self.open_pinned == 0


async def drainage(client: Client, target: Target, build_id: str) -> Drainage:
    """Is `build_id` drained on one queue's deployment?"""
    current = await view(client, target)
    version = current.version(build_id)
    routed = build_id in (current.current, current.ramping)
    count = await open_pinned(client, target.deployment, build_id)
    listed = await open_workflows(client, target.deployment, build_id) if count else []
    return Drainage(
        deployment=target.deployment,
        build_id=build_id,
        known=version is not None,
        routed=routed,
        open_pinned=count,
        workflows=listed,
        server_status=version.status if version else "unknown",
    )


@dataclass(frozen=True)
class StrandedBuild:
    """A build outside the kept set that still has open pinned workflows on one deployment."""

    deployment: str
    build_id: str
    open_pinned: int
    pollers: int
    by_type: dict[str, int] = field(default_factory=dict)
    """Open pinned workflows per workflow type; a type seen only past the sampled ones is
    counted under "other types"."""

    def describe(self) -> str:
        """`3 open pinned workflows on rtw-orchestration (OrderSaga 2, Shipment 1)`."""
        types = ", ".join(f"{name} {count}" for name, count in self.by_type.items())
        idle = "" if self.pollers else "; no worker of it polls now"
        return f"{self.open_pinned} open pinned workflow(s) on {self.deployment} ({types}){idle}"


async def _by_type(client: Client, deployment: str, build_id: str, total: int) -> dict[str, int]:
    """Exact counts per workflow type, for the types among the first TYPED_SAMPLE workflows."""
    sampled = Counter(
        w.workflow_type
        for w in await open_workflows(client, deployment, build_id, limit=TYPED_SAMPLE)
    )
    counts: dict[str, int] = {}
    for name in sorted(sampled):
        if "'" in name:  # cannot be quoted in a visibility query: count it as sampled
            counts[name] = sampled[name]
        else:
            counts[name] = await open_pinned(client, deployment, build_id, workflow_type=name)
    if (rest := total - sum(counts.values())) > 0:
        counts["other types"] = rest
    return counts


async def stranded_builds(
    client: Client, deployments: Sequence[Target], keep: Collection[str]
) -> list[StrandedBuild]:
    """The builds outside `keep` that still have open pinned workflows, per deployment.

    A release whose workers are exactly the `keep` builds would leave these workflows with
    no worker of their build: they stop until it runs again."""
    found = []
    for target in deployments:
        info = await describe(client, target.deployment)
        if info is None:
            continue
        pollers = await pollers_by_build(client, target)
        for summary in info.version_summaries:
            build = summary.deployment_version.build_id
            if build in keep:
                continue
            count = await open_pinned(client, target.deployment, build)
            if not count:
                continue
            found.append(
                StrandedBuild(
                    deployment=target.deployment,
                    build_id=build,
                    open_pinned=count,
                    pollers=pollers.get(build, 0),
                    by_type=await _by_type(client, target.deployment, build, count),
                )
            )
    return found
