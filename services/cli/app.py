"""The `rtw` app: dev stack, workers and orders here; the other groups in sibling modules."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from services.bench.cli import bench_app
from services.chaos.cli import chaos
from services.cli._help import whole_help
from services.cli._support import (
    print_json,
    run_client_command,
    settings_or_exit,
    typed_advice,
)
from services.cli.codec import codec_init, codec_key, codec_server, codec_token
from services.cli.deployment import deployment_app
from services.cli.gateway import gateway
from services.cli.ping import ping
from services.cli.state import db_app, notifications_app, payments_app
from services.cli.webhooks import webhooks_app
from services.contracts import OrderInput, TaskQueue
from services.runtime.config import Settings

app = typer.Typer(
    help="rtw: real-time workflows on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # inherited by every command
)
order_app = typer.Typer(help="Start and inspect order sagas.", no_args_is_help=True)
app.add_typer(order_app, name="order")
app.add_typer(payments_app, name="payments")
app.add_typer(notifications_app, name="notifications")
app.add_typer(db_app, name="db")
app.add_typer(bench_app, name="bench")
app.add_typer(deployment_app, name="deployment")
app.add_typer(webhooks_app, name="webhooks")
app.command("codec-server")(codec_server)
app.command("codec-key")(codec_key)
app.command("codec-token")(codec_token)
app.command("codec-init")(codec_init)
app.command("chaos")(chaos)
app.command("ping")(ping)
app.command("gateway")(gateway)


def _print_version(value: bool) -> None:
    if value:
        from services.runtime.telemetry import service_version

        typer.echo(f"rtw {service_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """rtw: real-time workflows on Temporal."""


@app.command()
def worker(
    queue: Annotated[TaskQueue, typer.Argument(help="task queue to serve")],
    health_port: Annotated[
        int | None, typer.Option(help="serve /healthz and /readyz here (env RTW_HEALTH_PORT)")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Prometheus metrics port (env RTW_METRICS_PORT)")
    ] = None,
) -> None:
    """Run one worker until SIGTERM/SIGINT, then drain and exit 0."""
    from services.runtime.logs import configure_logging
    from services.runtime.worker_host import WorkerHost
    from services.workers import worker_factory

    settings = settings_or_exit()
    if queue is TaskQueue.ORCHESTRATION:
        _check_orchestration_settings()
    overrides: dict[str, Any] = {}
    if health_port is not None:
        overrides["health_port"] = health_port
    if metrics_port is not None:
        overrides["metrics_port"] = metrics_port
    settings = settings.model_copy(update=overrides)
    configure_logging(
        service=f"rtw-{queue.value}", fmt=settings.log_format, level=settings.log_level
    )
    host = WorkerHost(settings, queue, worker_factory(queue))
    raise typer.Exit(asyncio.run(host.run()))


def _check_orchestration_settings() -> None:
    """Refuse bad RTW_* order-policy values before the worker starts (one line each, exit 2)."""
    from services.orchestration.settings import OrchestrationSettings
    from services.runtime.config import describe_settings_error

    try:
        OrchestrationSettings()
    except ValidationError as exc:
        for line in describe_settings_error(exc, OrchestrationSettings):
            typer.echo(f"rtw: invalid configuration: {line}", err=True)
        raise typer.Exit(2) from None


@app.command()
def dev(
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port")] = 8233,
    port: Annotated[int, typer.Option(help="Temporal gRPC port of the embedded server")] = 7233,
    gateway_port: Annotated[
        int,
        typer.Option(help="HTTP gateway port (API, inbox, webhooks)", envvar="RTW_GATEWAY_PORT"),
    ] = 8000,
) -> None:
    """Run the local stack (embedded Temporal unless TEMPORAL_ADDRESS is set) until Ctrl+C;
    then every worker and the gateway finish their in-flight work and exit."""
    from services.devstack import run_dev

    settings = settings_or_exit()
    raise typer.Exit(
        _run_stack(run_dev(settings, port=port, ui_port=ui_port, gateway_port=gateway_port), "dev")
    )


@app.command()
def demo(
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port")] = 8233,
    port: Annotated[int, typer.Option(help="Temporal gRPC port of the embedded server")] = 7233,
) -> None:
    """Start the stack, run five demo orders (one per outcome) on task queues of their own,
    print how each ended, stop everything."""
    from services.demo import run_demo

    settings = settings_or_exit()
    raise typer.Exit(_run_stack(run_demo(settings, port=port, ui_port=ui_port), "demo"))


def _port_taken_advice(port: int, command: str) -> str:
    """What to run when the embedded server's port is taken: use the server there."""
    from services.runtime.invocation import rtw_command

    use = f"'TEMPORAL_ADDRESS=localhost:{port} {rtw_command()} {command}'"
    if command == "demo":
        return f"run the demo against it with {use} (the demo uses task queues of its own)"
    return f"stop it, or run the workers against it with {use}"


def _run_stack(main: Coroutine[Any, Any, int], command: str) -> int:
    """Run a local-stack coroutine, turning start-up failures into one clear line."""
    from services.gateway.process import GatewayProcessError
    from services.runtime.database import DatabaseError
    from services.runtime.devserver import DevServerError, PortTakenError
    from services.runtime.local_stack import WorkerProcessError

    try:
        return asyncio.run(main)
    except PortTakenError as exc:
        typer.echo(f"rtw: {exc} {_port_taken_advice(exc.port, command)}", err=True)
        return 1
    except (DevServerError, WorkerProcessError, GatewayProcessError, DatabaseError) as exc:
        typer.echo(f"rtw: {exc}", err=True)
        return 1


def _read_order(file: str) -> OrderInput:
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        typer.echo(f"rtw: cannot read {file}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    try:
        return OrderInput.model_validate_json(text)
    except ValidationError as exc:
        from services.orchestration.order_saga import describe_validation_error

        typer.echo(f"rtw: {describe_validation_error(exc)}", err=True)
        raise typer.Exit(2) from None


def _with_fresh_id(order: OrderInput, prefix: str) -> OrderInput:
    """Return `order` under the id `<prefix>-<unix seconds>-<6 hex digits>`."""
    order_id = f"{prefix}-{int(time.time())}-{secrets.token_hex(3)}"
    try:
        return OrderInput.model_validate({**order.model_dump(mode="json"), "order_id": order_id})
    except ValidationError:
        typer.echo(
            f"rtw: --new-id {prefix!r} does not make a valid order id"
            " (letters, digits and ._:- only, up to 128 characters in all)",
            err=True,
        )
        raise typer.Exit(2) from None


@order_app.command("start")
def order_start(
    file: Annotated[str, typer.Option("--file", "-f", help="order JSON file, - for stdin")],
    wait: Annotated[bool, typer.Option(help="wait for the outcome and print it")] = False,
    new_id: Annotated[
        str | None,
        typer.Option(
            "--new-id",
            metavar="PREFIX",
            help="replace the file's order id with PREFIX-<unix time>-<random>: a new order"
            " on every run (smoke tests such as `helm test`)",
        ),
    ] = None,
) -> None:
    """Start a saga for an order (once per order id); print its workflow id.

    With --wait, report progress on stderr (state changes, the command an approval needs,
    a warning when no worker polls the queue) and exit 0 only when the order completed.
    A different body under an existing order id is a conflict (exit 1).
    """
    from services.cli._progress import report_progress
    from services.orchestration.client import OrderConflictError, start_order, wait_for_order

    order = _read_order(file)
    if new_id is not None:
        order = _with_fresh_id(order, new_id)

    async def body(client: Any, settings: Settings) -> int:
        try:
            started = await start_order(
                client, order, task_queue=settings.queue_name(TaskQueue.ORCHESTRATION)
            )
        except OrderConflictError as exc:
            typer.echo(f"rtw: conflict: {exc}", err=True)
            return 1
        if started.created:
            typer.echo(started.workflow_id)
        else:
            typer.echo(f"{started.workflow_id} (already exists; nothing new started)")
        if not wait:
            return 0
        progress = asyncio.create_task(
            report_progress(
                client,
                started.handle,
                order_id=order.order_id,
                task_queue=settings.queue_name(TaskQueue.ORCHESTRATION),
            )
        )
        try:
            outcome = await wait_for_order(started.handle)
        finally:
            progress.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await progress
        print_json(
            {
                "workflow_id": outcome.workflow_id,
                "status": outcome.status.model_dump(mode="json") if outcome.status else None,
                "error": outcome.error.model_dump(mode="json") if outcome.error else None,
            }
        )
        return 0 if outcome.completed else 1

    run_client_command(body)


@order_app.command("status")
def order_status_cmd(order_id: Annotated[str, typer.Argument(help="the order's id")]) -> None:
    """Print the saga's `status` query as JSON.

    When there is none (no such order, no worker to answer, an order that failed
    validation), print one line saying why and exit 1.
    """
    from services.contracts import OrderStatus
    from services.orchestration.client import OrderStatusUnavailableError, explain_order

    async def body(client: Any, _: Settings) -> int:
        try:
            found = await explain_order(client, order_id)
        except OrderStatusUnavailableError as exc:
            typer.echo(f"rtw: {typed_advice(str(exc))}", err=True)
            return 1
        status = found if isinstance(found, OrderStatus) else found.status
        if status is not None:
            print_json(status.model_dump(mode="json"))
            return 0
        error = found.error if not isinstance(found, OrderStatus) else None
        what = f"{error.type}: {error.message}" if error else "no status"
        typer.echo(f"rtw: order {order_id} failed before it had a status: {what}", err=True)
        return 1

    run_client_command(body)


@order_app.command("cancel")
def order_cancel(order_id: Annotated[str, typer.Argument(help="the order's id")]) -> None:
    """Cancel an order: its saga undoes what it did (refund, void, release stock) and ends
    `cancelled`. Exit 1 when there is no such order or it has ended already."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError, RPCStatusCode

    from services.orchestration.client import order_handle

    async def body(client: Any, _: Settings) -> int:
        handle = order_handle(client, order_id)
        try:
            description = await handle.describe()
            if description.status is not WorkflowExecutionStatus.RUNNING:
                state = description.status.name.lower() if description.status else "closed"
                typer.echo(
                    f"rtw: order {order_id} has ended ({state}); nothing to cancel", err=True
                )
                return 1
            await handle.cancel()
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
            typer.echo(f"rtw: no order {order_id}", err=True)
            return 1
        typer.echo(f"{handle.id}: cancellation requested (the saga compensates)")
        return 0

    run_client_command(body)


# Workflow patterns (services/cli/patterns.py): order approval, shipments, subscriptions, schedules.
def _register_patterns() -> None:
    from services.cli import patterns

    order_app.command("approve")(patterns.order_approve)
    order_app.command("reject")(patterns.order_reject)
    app.add_typer(patterns.shipment_app, name="shipment")
    app.add_typer(patterns.subscription_app, name="subscription")
    app.add_typer(patterns.schedules_app, name="schedules")


_register_patterns()
whole_help(app)


def main() -> None:
    """Console-script entry point.

    Ends with `os._exit` once the command's work is done and its output flushed: the SDK's
    Rust runtime keeps threads that can crash CPython's finalization (SIGSEGV/SIGABRT after
    a successful run, temporalio/sdk-python#300), which would turn a clean exit 0 into a
    spurious failure for Kubernetes, CI and scripts.
    """
    code: int | str | None = 0
    try:
        app()  # standalone mode: usage errors are printed and end in SystemExit
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
    if isinstance(code, str):
        print(code, file=sys.stderr, flush=True)
        code = 1
    os._exit(code or 0)
