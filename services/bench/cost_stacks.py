"""Worker stacks of `rtw bench cost` and what starting them costs: rtw's three versioned
workers (first start, restart of the same build, a rollout of a new build), unversioned
workers, and the bare-SDK workers of the same-shape mirror."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client

from services.bench.actions import (
    DEFAULT_NAMESPACE,
    ActionMeter,
    Actions,
    MeteredDevServer,
    by_namespace,
    delta,
    total,
)
from services.bench.processes import WorkerSet, bare_spec
from services.bench.variants import ROLES
from services.runtime.deployments import targets
from services.runtime.local_stack import LocalStack
from services.runtime.rollout import promote
from services.runtime.versioning import VersioningSettings

#: Receives one line saying what runs now.
Progress = Callable[[str], None]
#: Seconds without a new action after which the Worker Deployments' bookkeeping (system
#: workflows in the namespace, reacting to a new version or a routing change) is over.
DEPLOYMENT_QUIET_SECONDS = 5.0
#: The same after orders: longer than the second the server takes to export what it counted.
ORDER_QUIET_SECONDS = 2.5
#: Dynamic config of the bench's server: a build that stops being current is checked for
#: open pinned workflows after this grace period and then every interval (both 3 minutes by
#: default, temporal server common/dynamicconfig/constants.go), so that a rollout's drainage
#: bookkeeping is over within the measurement instead of minutes later.
DRAINAGE_SECONDS = 2
DRAINAGE_CONFIG = (
    f'matching.wv.VersionDrainageStatusVisibilityGracePeriod="{DRAINAGE_SECONDS}s"',
    f'matching.wv.VersionDrainageStatusRefreshInterval="{DRAINAGE_SECONDS}s"',
)


@dataclass(frozen=True)
class Measured:
    """Actions added while something ran (the namespace's, by type; all, by namespace)."""

    by_type: dict[str, int]
    by_namespace: dict[str, int]
    after: Actions = field(default_factory=Counter, repr=False)
    """The counters once it was over (the next measurement's starting point)."""

    @property
    def total(self) -> int:
        """Actions in the namespace rtw runs in."""
        return total(self.by_type)

    def record(self) -> dict[str, Any]:
        """As JSON."""
        return {"total": self.total, "by_type": self.by_type, "by_namespace": self.by_namespace}


async def measure(
    meter: ActionMeter,
    work: Callable[[], Awaitable[object]],
    *,
    quiet: float,
    before: Actions | None = None,
) -> Measured:
    """The actions `work` causes: counters read once quiet before (or `before`, the end of
    a measurement that ended just now), and once quiet after."""
    start = before if before is not None else await meter.settled(quiet=quiet)
    await work()
    after = await meter.settled(quiet=quiet)
    return Measured(
        by_type=delta(start, after, namespace=DEFAULT_NAMESPACE),
        by_namespace=by_namespace(start, after),
        after=after,
    )


@dataclass
class Stack:
    """rtw's three workers on one queue prefix, as one build."""

    address: str
    prefix: str
    data_dir: Path
    build_id: str | None = None
    promote_on_start: str = "always"
    versioned: bool = True
    auto_deliver: bool = True
    running: LocalStack | None = field(default=None, init=False)

    def env(self) -> dict[str, str]:
        """The workers' environment."""
        env = {
            "RTW_QUEUE_PREFIX": self.prefix,
            "RTW_DATA_DIR": str(self.data_dir),
            "RTW_LOG_LEVEL": "WARNING",
            "RTW_LOG_FORMAT": "json",
            "RTW_WORKER_VERSIONING": "true" if self.versioned else "false",
            "RTW_PROMOTE_ON_START": self.promote_on_start,
            "RTW_SIMULATED_CARRIER_AUTO_DELIVER": "true" if self.auto_deliver else "false",
        }
        if self.build_id:
            env["RTW_BUILD_ID"] = self.build_id
        return env

    @property
    def queue(self) -> str:
        """The orchestration queue."""
        return f"{self.prefix}orchestration"

    async def start(self) -> None:
        """Start the three workers and wait until each is ready (versioned: promoted as
        RTW_PROMOTE_ON_START says)."""
        self.running = LocalStack(
            address=self.address,
            env=self.env(),
            log_dir=self.data_dir / "logs" / (self.build_id or "workers"),
            stop_timeout=30,
        )
        await self.running.start()

    async def stop(self) -> None:
        """Stop the workers (each drains)."""
        if self.running is not None:
            await self.running.stop()
            self.running = None

    async def promote(self, client: Client) -> None:
        """`rtw deployment promote BUILD`: make this build current on every queue."""
        assert self.build_id is not None
        deployments = targets(VersioningSettings(), prefix=self.prefix)
        await promote(client, deployments, self.build_id, wait_seconds=60)


@dataclass
class BareStack:
    """The bare-SDK workers of the same-shape mirror (no rtw plugin, no versioning)."""

    client: Client
    address: str
    prefix: str
    log_dir: Path
    workers: WorkerSet | None = field(default=None, init=False)

    @property
    def queue(self) -> str:
        """The orchestration queue."""
        return f"{self.prefix}orchestration"

    async def start(self) -> None:
        """Spawn the three bare workers; returns once each polls."""
        specs = [bare_spec(role, prefix=self.prefix, address=self.address) for role in ROLES]
        self.workers = WorkerSet(self.client, specs, log_dir=self.log_dir)
        await self.workers.__aenter__()

    async def stop(self) -> None:
        """Stop them."""
        if self.workers is not None:
            await self.workers.stop()
            self.workers = None


@dataclass
class CostRun:
    """What a `rtw bench cost` run shares: the server, its meter, clients, its directory."""

    server: MeteredDevServer
    meter: ActionMeter
    client: Client
    bare_client: Client
    work_dir: Path
    tag: str
    progress: Progress


def worker_start_record(measured: Mapping[str, Measured]) -> dict[str, Any]:
    """The worker-start figures as JSON."""
    return {name: m.record() for name, m in measured.items()}
