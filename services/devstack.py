"""`rtw dev`: the whole stack on one machine until Ctrl+C, embedded Temporal by default
(`services.demo` runs `rtw demo` on the same stack)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

from services.contracts import TaskQueue
from services.gateway.process import GatewayProcess
from services.gateway.settings import GatewaySettings
from services.runtime.bytecode import compile_services
from services.runtime.config import Settings
from services.runtime.connection import connect
from services.runtime.database import open_database
from services.runtime.devserver import DevServer, free_port, port_in_use
from services.runtime.invocation import rtw_command
from services.runtime.local_stack import LocalStack
from services.runtime.stop_signals import StopSignals

#: Seconds `rtw dev` waits for a worker beyond its drain time before killing it.
STOP_MARGIN_SECONDS = 15.0


def stop_signals(settings: Settings) -> StopSignals:
    """Ctrl+C (or SIGTERM, SIGHUP) stops the stack once; a second one forces it down."""
    drain = f"{settings.tuning.graceful_shutdown_seconds:g} s"
    return StopSignals(
        stopping=lambda words: (
            f"\n{words}: stopping; the gateway and the workers finish their in-flight work "
            f"first (up to {drain}; {words} again forces them down)"
        ),
        forcing=lambda words: f"{words} again: forcing the gateway and the workers down",
    )


@contextlib.asynccontextmanager
async def local_stack(
    settings: Settings,
    *,
    port: int,
    ui_port: int | None,
    log_dir: Path | None,
    signals: StopSignals,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[tuple[str, str | None]]:
    """Temporal (embedded unless TEMPORAL_ADDRESS is set) plus the three worker processes.

    Yields the Temporal address and the Web UI URL (None for an external server). On the
    way out every worker gets one SIGTERM and drains; the server stops after them.
    """
    server: DevServer | None = None
    address = settings.temporal.address
    ui_url: str | None = None
    if settings.telemetry.enabled:
        from services.runtime.trace_export import collector_warning

        if (warning := collector_warning(settings.telemetry)) is not None:
            print(warning, flush=True)
    if address is None:
        if ui_port and port_in_use(ui_port):
            taken, ui_port = ui_port, free_port()
            print(f"Web UI port {taken} is taken: the Web UI listens on {ui_port}", flush=True)
        server = DevServer(data_dir=settings.data_dir, port=port, ui_port=ui_port)
        print(f"starting the embedded Temporal dev server on {server.address} ...", flush=True)
        try:
            await server.start()
        except BaseException:  # Ctrl+C while it starts: it runs in a session of its own
            await server.stop()
            raise
        address, ui_url = server.address, server.ui_url
    # The workers get the data directory as this process resolved it, whatever their cwd.
    worker_env = {
        "RTW_DATA_DIR": str(settings.data_dir),
        "RTW_QUEUE_PREFIX": settings.queue_prefix,
        **dev_versioning(settings),
        **(env or {}),
    }
    stack = LocalStack(
        address=address,
        log_dir=log_dir,
        env=worker_env,
        stop_timeout=settings.tuning.graceful_shutdown_seconds + STOP_MARGIN_SECONDS,
    )
    signals.on_force(stack.force)
    try:
        await asyncio.to_thread(compile_services)  # workers load byte-code, not source
        await _prepare_state(settings)
        print("starting workers: " + ", ".join(q.value for q in TaskQueue), flush=True)
        await stack.start()
        yield address, ui_url
    finally:
        codes = await stack.stop()
        if codes:
            print(
                "workers stopped: " + ", ".join(f"{q.value}={code}" for q, code in codes.items()),
                flush=True,
            )
        if server is not None:
            await server.stop()


def dev_versioning(settings: Settings) -> dict[str, str]:
    """A development stack makes each start's build current (the newest code wins), unless
    RTW_PROMOTE_ON_START says otherwise."""
    if "promote_on_start" in settings.versioning.model_fields_set:
        return {}
    return {"RTW_PROMOTE_ON_START": "always"}


async def _prepare_state(settings: Settings) -> None:
    """Say where the workers keep their state, and bring that database up to date: a
    development stack migrates by itself (deployments run `rtw db migrate` on purpose)."""
    db = await open_database(settings.database, data_dir=settings.data_dir, require_current=False)
    try:
        print(f"worker state: {db.backend} {db.where}", flush=True)
        if settings.database.shared and (applied := await db.migrate()):
            print(f"migrated {db.where}: applied {applied}", flush=True)
    finally:
        await db.close()


def workflows_url(ui_url: str | None, namespace: str) -> str | None:
    """The Web UI's list of workflows, when there is a Web UI."""
    return f"{ui_url}/namespaces/{namespace}/workflows" if ui_url else None


def _dev_secret(path: Path, make: Callable[[], str]) -> Path:
    """A development secret file under the data dir, created once (mode 0600)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(make() + "\n", encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def dev_gateway(
    settings: Settings, address: str, *, port: int, signals: StopSignals
) -> AsyncIterator[GatewayProcess | None]:
    """The HTTP gateway as a process, with development token and webhook secret files
    under the data dir unless RTW_GATEWAY_TOKENS_FILE / RTW_WEBHOOK_SECRET_FILE are set."""
    if port_in_use(port):
        print(
            f"gateway not started: port {port} is taken; to run one, restart with "
            f"--gateway-port {free_port()} (any free port)",
            flush=True,
        )
        yield None
        return
    configured = GatewaySettings()
    # A development machine's gateway answers this machine only, unless RTW_GATEWAY_HOST says so.
    env = {
        "TEMPORAL_ADDRESS": address,
        "RTW_QUEUE_PREFIX": settings.queue_prefix,
        "RTW_GATEWAY_HOST": os.environ.get("RTW_GATEWAY_HOST", "127.0.0.1"),
    }
    if configured.tokens_file is None:
        tokens = _dev_secret(settings.data_dir / "gateway-tokens", lambda: secrets.token_hex(16))
        env["RTW_GATEWAY_TOKENS_FILE"] = str(tokens.resolve())
    if configured.webhook_secret_file is None:
        secret = _dev_secret(settings.data_dir / "webhook-secret", lambda: secrets.token_hex(32))
        env["RTW_WEBHOOK_SECRET_FILE"] = str(secret.resolve())
    gateway = GatewayProcess(port=port, health_port=free_port(), env=env)

    def force() -> None:
        if gateway.process is not None and gateway.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                gateway.process.send_signal(signal.SIGTERM)

    signals.on_force(force)
    print(f"starting the gateway on http://localhost:{port} ...", flush=True)
    try:
        await gateway.start()
        yield gateway
    finally:
        print(f"gateway stopped: {await gateway.stop()}", flush=True)


def example_file(name: str) -> str | None:
    """`deploy/examples/NAME` of this checkout as a path that works from the current
    directory, or None when rtw runs from an installed package without the examples."""
    path = Path(__file__).resolve().parent.parent / "deploy" / "examples" / name
    if not path.exists():
        return None
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def try_lines(settings: Settings, *, auto_deliver: bool) -> list[str]:
    """Commands to try against the running stack, each runnable as printed."""
    rtw = rtw_command()
    order, large = example_file("order.json"), example_file("large-order.json")
    lines = ["Try, in another terminal from this directory:"]
    if order is not None and large is not None:
        lines += [
            f"  {rtw} order start --file {order} --wait",
            f"  {rtw} order start --file {large}      # 150000 cents: waits for approval",
            f"  {rtw} order approve large-1 --reviewer you",
        ]
    lines += [
        f"  {rtw} subscription start --id s-1 --customer c-1 --plan basic",
        f"  {rtw} schedules apply && {rtw} schedules list",
    ]
    if auto_deliver:
        lines += [
            "The simulated carrier delivers shipments on its own; to drive them yourself,",
            f"restart with RTW_SIMULATED_CARRIER_AUTO_DELIVER=false and: {rtw} shipment event "
            "o-1 delivered",
        ]
    else:
        lines += [
            "Shipments wait for carrier events (RTW_SIMULATED_CARRIER_AUTO_DELIVER=false):",
            f"  {rtw} shipment event o-1 picked_up   (then in_transit, delivered)",
        ]
    if settings.queue_prefix:
        lines.append(f"(RTW_QUEUE_PREFIX={settings.queue_prefix}: set it for these commands too)")
    return lines


async def _serve_dev(
    settings: Settings, *, port: int, ui_port: int, gateway_port: int, signals: StopSignals
) -> int:
    from services.orchestration.settings import OrchestrationSettings

    stack = local_stack(settings, port=port, ui_port=ui_port, log_dir=None, signals=signals)
    async with (
        stack as (addr, ui),
        dev_gateway(settings, addr, port=gateway_port, signals=signals) as gateway,
    ):
        print(f"\nrtw is running against {addr}.")
        if settings.versioning.worker_versioning:
            for line in await build_report(settings, addr):
                print(line)
        if url := workflows_url(ui, settings.temporal.namespace):
            print(f"Temporal Web UI: {url}")
        if gateway is not None:
            tokens = gateway.env.get("RTW_GATEWAY_TOKENS_FILE", "RTW_GATEWAY_TOKENS_FILE")
            print(f"Gateway: {gateway.url}/docs (API), {gateway.url}/inbox (approvals);")
            print(f"         bearer token in {tokens}")
        auto_deliver = OrchestrationSettings().simulated_carrier_auto_deliver
        for line in try_lines(settings, auto_deliver=auto_deliver):
            print(line)
        drain = settings.tuning.graceful_shutdown_seconds
        print(f"Press Ctrl+C to stop (in-flight work finishes first, up to {drain:g} s).\n")
        print(end="", flush=True)
        await asyncio.Event().wait()  # until a signal cancels this
    return 0


async def run_dev(settings: Settings, *, port: int, ui_port: int, gateway_port: int = 8000) -> int:
    """Run until Ctrl+C, SIGTERM or SIGHUP; then stop once: each process drains, exit 0."""
    signals = stop_signals(settings)
    served = await signals.run(
        _serve_dev(settings, port=port, ui_port=ui_port, gateway_port=gateway_port, signals=signals)
    )
    return 0 if served is None else served


async def build_report(settings: Settings, address: str) -> list[str]:
    """Which build the workers run, and the workflows still pinned to earlier builds (after
    a code change they wait for that code; `rtw dev` no longer runs it)."""
    from services.runtime.deployments import targets, view

    build = settings.versioning.resolved_build_id
    client = await connect(settings.temporal.model_copy(update={"address": address}))
    (orchestration,) = [
        t
        for t in targets(settings.versioning, prefix=settings.queue_prefix)
        if t.queue is TaskQueue.ORCHESTRATION
    ]
    found = await view(client, orchestration)
    lines = [f"Workers run build {build} (current: {found.current or 'unversioned'})."]
    stranded = [v for v in found.versions if v.build_id != build and v.open_pinned]
    for version in stranded:
        lines.append(
            f"  {version.open_pinned} workflow(s) pinned to earlier build {version.build_id} "
            "wait for its code; to move them onto this build (they replay on the new code):"
        )
        lines.append(
            "    temporal workflow update-options --versioning-override-behavior auto_upgrade "
            f"--query \"TemporalWorkerDeploymentVersion='{orchestration.deployment}:"
            f"{version.build_id}' AND ExecutionStatus='Running'\""
        )
    return lines
