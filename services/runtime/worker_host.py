"""Run one worker until SIGTERM/SIGINT, then drain within the graceful timeout and exit 0.

While it runs, the host watches its dependencies: readiness is false while Temporal or the
store does not answer, and a worker that loses its store stops polling (so healthy replicas
take the work), waits for the store, and resumes by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from services.contracts import TaskQueue
from services.runtime.config import SandboxMode, Settings
from services.runtime.connection import connect
from services.runtime.database import (
    Database,
    DatabaseError,
    SchemaTooOldError,
    StoreIdentity,
    open_database,
)
from services.runtime.dependencies import CHECK_SECONDS, check_store, check_temporal
from services.runtime.deployments import (
    DeploymentError,
    Target,
    check_versioning,
    claim_on_start,
)
from services.runtime.health import HealthServer, HealthState
from services.runtime.store_identity import StoreMismatchError, check_same_store, worker_identity
from services.runtime.telemetry import Telemetry, start_telemetry
from services.runtime.versioning import PromoteOnStart, deployment_config, deployment_name

logger = logging.getLogger(__name__)

#: Builds a worker (and the resources it owns) for a connected client and an open store.
WorkerFactory = Callable[
    [Client, Settings, Database, StoreIdentity], AbstractAsyncContextManager[Worker]
]

#: Exit code when a second signal forces the process down mid-drain.
FORCED_EXIT_CODE = 130

CONNECT_RETRY_SECONDS = 60.0
#: Seconds between attempts to open a store that does not answer.
STORE_RETRY_SECONDS = 2.0
#: Consecutive failed store checks (CHECK_SECONDS apart) after which the worker stops polling.
STORE_LOST_AFTER = 3


def worker_options(settings: Settings, queue: TaskQueue, store: StoreIdentity) -> dict[str, object]:
    """Worker keyword arguments shared by every service: queue, tuning, graceful timeout,
    Worker Deployment version, the identity that announces `store`, and no workflow
    sandbox when `RTW_WORKFLOW_SANDBOX=off`."""
    tuning = settings.tuning
    options: dict[str, object] = {}
    if queue is TaskQueue.ORCHESTRATION and settings.workflow_sandbox is SandboxMode.OFF:
        logger.warning("workflow sandbox off (RTW_WORKFLOW_SANDBOX=off): determinism unchecked")
        options["workflow_runner"] = UnsandboxedWorkflowRunner()
    return options | {
        "task_queue": settings.queue_name(queue),
        "identity": worker_identity(store),
        "max_concurrent_activities": tuning.max_concurrent_activities,
        "max_concurrent_workflow_tasks": tuning.max_concurrent_workflow_tasks,
        "max_concurrent_activity_task_polls": tuning.max_concurrent_activity_polls,
        "max_concurrent_workflow_task_polls": tuning.max_concurrent_workflow_task_polls,
        "graceful_shutdown_timeout": timedelta(seconds=tuning.graceful_shutdown_seconds),
        "sticky_queue_schedule_to_start_timeout": timedelta(
            seconds=tuning.sticky_queue_timeout_seconds
        ),
        "deployment_config": deployment_config(
            settings.versioning, queue, prefix=settings.queue_prefix
        ),
    }


async def namespace_problem(client: Client) -> str | None:
    """Why the client's namespace cannot be served (one line), or None when it exists."""
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=client.namespace), timeout=timedelta(seconds=10)
        )
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return (
                f"namespace {client.namespace!r} does not exist on "
                f"{client.service_client.config.target_host}: create it "
                f"(temporal operator namespace create -n {client.namespace}) or set "
                "TEMPORAL_NAMESPACE"
            )
        if exc.status is RPCStatusCode.PERMISSION_DENIED:
            return f"not allowed to use namespace {client.namespace!r}: {exc.message}"
        return f"cannot check namespace {client.namespace!r}: {exc.message}"
    return None


async def serving_client(connecting: Awaitable[Client], health: HealthState) -> Client | None:
    """The connected client once its namespace is known to exist, or None after marking
    `health` fatal and logging why (the process then exits 1)."""
    try:
        client = await connecting
    except Exception as exc:
        health.mark_fatal(f"cannot connect: {exc}")
        logger.error("cannot connect to Temporal: %s", exc)
        return None
    if (problem := await namespace_problem(client)) is not None:
        health.mark_fatal(problem)
        logger.error("%s", problem)
        return None
    return client


def build_runtime(settings: Settings) -> Runtime | None:
    """An SDK runtime exporting Prometheus metrics when a metrics port is set."""
    if settings.metrics_port is None:
        return None
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=f"0.0.0.0:{settings.metrics_port}")
        )
    )


class WorkerHost:
    """Owns one worker's lifecycle: health, connect, poll, drain on signal."""

    def __init__(self, settings: Settings, queue: TaskQueue, factory: WorkerFactory) -> None:
        self._settings = settings
        self._queue = queue
        self._factory = factory
        self.health = HealthState()
        self._stop_requested = asyncio.Event()
        self._signals_seen = 0
        self._telemetry = Telemetry()

    def _on_signal(self, signum: int) -> None:
        self._signals_seen += 1
        if self._signals_seen > 1:
            logger.warning("second %s: forcing exit", signal.Signals(signum).name)
            os._exit(FORCED_EXIT_CODE)
        logger.info(
            "%s received: draining (up to %ss for in-flight activities)",
            signal.Signals(signum).name,
            self._settings.tuning.graceful_shutdown_seconds,
        )
        self.health.mark_draining()
        self._stop_requested.set()

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)

    async def run(self) -> int:
        """Serve until asked to stop; return the process exit code.

        Tracing starts before the connection and is flushed after the drain, on every way
        out (SIGTERM/SIGINT included), so the spans of the last work done are exported.
        """
        self._install_signal_handlers()
        self._telemetry = start_telemetry(
            self._settings,
            service=f"rtw-{self._queue.value}",
            task_queue=self._settings.queue_name(self._queue),
        )
        health_cm: AbstractAsyncContextManager[object] = (
            HealthServer(self.health, port=self._settings.health_port)
            if self._settings.health_port is not None
            else contextlib.nullcontext()
        )
        try:
            async with health_cm:
                return await self._serve()
        finally:
            await asyncio.to_thread(self._telemetry.shutdown)

    async def _serve(self) -> int:
        connecting = asyncio.create_task(
            connect(
                self._settings.temporal,
                runtime=build_runtime(self._settings),
                retry_for_seconds=CONNECT_RETRY_SECONDS,
                tracing=self._telemetry.enabled,
            )
        )
        stop_wait = asyncio.create_task(self._stop_requested.wait())
        try:
            return await self._run_worker(connecting, stop_wait)
        finally:
            stop_wait.cancel()

    def _deployment(self) -> Target | None:
        """This worker's Worker Deployment, or None when versioning is off."""
        versioning = self._settings.versioning
        if not versioning.worker_versioning:
            return None
        prefix = self._settings.queue_prefix
        return Target(
            queue=self._queue,
            task_queue=self._settings.queue_name(self._queue),
            deployment=deployment_name(versioning, self._queue, prefix=prefix),
        )

    async def _claim(self, client: Client, target: Target) -> None:
        """Become the deployment's current version when RTW_PROMOTE_ON_START says so."""
        versioning = self._settings.versioning
        build = versioning.resolved_build_id
        try:
            current = await claim_on_start(client, target, build, versioning.promote_on_start)
        except (DeploymentError, RPCError) as exc:
            logger.warning(
                "%s: could not make build %s current (%s); run: rtw deployment promote %s",
                target.deployment,
                build,
                exc,
                build,
            )
            return
        if current == build:
            logger.info("%s: build %s is current", target.deployment, build)
        else:  # expected with RTW_PROMOTE_ON_START=never: promotion is a separate step
            never = versioning.promote_on_start is PromoteOnStart.NEVER
            logger.log(
                logging.INFO if never else logging.WARNING,
                "%s: build %s polls, but new workflows go to %s; "
                "to route them here: rtw deployment promote %s",
                target.deployment,
                build,
                f"build {current}" if current else "unversioned workers",
                build,
            )

    async def _run_worker(
        self, connecting: asyncio.Task[Client], stop_wait: asyncio.Task[bool]
    ) -> int:
        """Poll until a stop is requested, then drain; the exit code says how it ended.

        A lost store ends one round of polling; the next round starts once it answers."""
        await asyncio.wait({connecting, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if not connecting.done():
            connecting.cancel()
            return 0
        if (client := await serving_client(connecting, self.health)) is None:
            return 1
        target = self._deployment()
        if target is not None and (problem := await check_versioning(client, target.deployment)):
            self.health.mark_fatal(problem)
            logger.error("%s", problem)
            return 1
        self.health.mark_started()
        promoted = False
        try:
            while (db := await self._open_store(stop_wait)) is not None:
                try:
                    store = await db.identity()
                    await check_same_store(
                        client, store, prefix=self._settings.queue_prefix, queue=self._queue
                    )
                    code = await self._poll(client, db, store, target, stop_wait, promoted)
                finally:
                    await db.close()
                promoted = True
                if code is not None:
                    return code
        except (SchemaTooOldError, StoreMismatchError, DatabaseError) as exc:
            self.health.mark_fatal(str(exc))
            logger.error("cannot run the %s worker: %s", self._queue.value, exc)
            return 1
        return 0

    async def _open_store(self, stop_wait: asyncio.Task[bool]) -> Database | None:
        """The store, opened and its schema checked; waits (not ready) while it does not
        answer; None once a stop is requested. A schema too old is fatal."""
        settings = self._settings
        last_problem = ""
        while not stop_wait.done():
            try:
                return await open_database(settings.database, data_dir=settings.data_dir)
            except SchemaTooOldError:
                raise
            except DatabaseError as exc:
                problem = str(exc)
                self.health.mark_unready(f"waiting for the store: {problem}")
                if problem != last_problem:
                    logger.warning("waiting for the store, not polling: %s", problem)
                    last_problem = problem
            await asyncio.wait({stop_wait}, timeout=STORE_RETRY_SECONDS)
        return None

    async def _poll(
        self,
        client: Client,
        db: Database,
        store: StoreIdentity,
        target: Target | None,
        stop_wait: asyncio.Task[bool],
        promoted: bool,
    ) -> int | None:
        """One round of polling: an exit code once stopped, None when the store was lost."""
        async with self._factory(client, self._settings, db, store) as worker:
            running = asyncio.create_task(worker.run())
            if target is not None and not promoted:
                await self._claim(client, target)
            self.health.mark_ready()
            logger.info(
                "worker polling task queue %r on %s%s, store %s",
                worker.config()["task_queue"],
                client.service_client.config.target_host,
                f" as {target.deployment}/{self._settings.versioning.resolved_build_id}"
                if target
                else " (unversioned)",
                store.tag,
            )
            watch = asyncio.create_task(self._watch_dependencies(client, db))
            await asyncio.wait({running, stop_wait, watch}, return_when=asyncio.FIRST_COMPLETED)
            watch.cancel()
            lost = watch.done() and not watch.cancelled() and watch.exception() is None
            if lost:
                reason = watch.result()
                self.health.mark_unready(f"store lost: {reason}")
                logger.error(
                    "store lost, stopping polling until it answers (healthy replicas take the "
                    "work): %s",
                    reason,
                )
            if not running.done():
                await worker.shutdown()
            try:
                await running
            except Exception as exc:
                self.health.mark_fatal(f"worker failed: {exc}")
                logger.exception("worker failed")
                return 1
        if lost and not stop_wait.done():
            return None
        logger.info("worker stopped cleanly")
        return 0

    async def _watch_dependencies(self, client: Client, db: Database) -> str:
        """Keep readiness true only while Temporal and the store answer; return why once
        the store has failed STORE_LOST_AFTER checks in a row."""
        failures = 0
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            if self.health.reason == "draining":
                continue
            temporal, store = await asyncio.gather(check_temporal(client), check_store(db))
            failures = failures + 1 if store else 0
            if store and failures >= STORE_LOST_AFTER:
                return store
            if store:
                self.health.mark_unready(f"store not answering: {store}")
            elif temporal:
                self.health.mark_unready(f"Temporal unreachable: {temporal}")
            else:
                self.health.mark_ready()
