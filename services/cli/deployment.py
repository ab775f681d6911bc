"""`rtw deployment`: Worker Deployment versions, promotion and drainage of every queue."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from temporalio.client import Client
from temporalio.service import RPCError

from services.cli._deployment_guard import build_id_arg, guard, refused
from services.cli._support import print_json, run_client_command
from services.contracts import TaskQueue
from services.runtime.config import Settings
from services.runtime.deployments import DeploymentError, DeploymentView, targets, view
from services.runtime.rollout import Drainage, UnknownBuildError, drainage, promote

deployment_app = typer.Typer(
    help="Worker Versioning: versions per queue, promote a build, check a build has drained, "
    "refuse a release that would strand pinned workflows.",
    no_args_is_help=True,
)


def _table(views: list[DeploymentView]) -> str:
    lines = []
    for found in views:
        head = f"{found.target.deployment}  (task queue {found.target.task_queue})"
        if not found.exists:
            lines += [head, "  no versioned worker has polled yet", ""]
            continue
        routing = f"current {found.current or 'unversioned'}"
        if found.ramping:
            routing += f", ramping {found.ramping} at {found.ramp_percentage:g}%"
        lines += [head, f"  {routing}"]
        lines.append(f"  {'build':<24} {'status':<9} {'pollers':>7} {'open pinned':>11}")
        for v in found.versions:
            lines.append(f"  {v.build_id:<24} {v.status:<9} {v.pollers:>7} {v.open_pinned:>11}")
        lines.append("")
    return "\n".join(lines + _removable(views)).rstrip()


def _removable(views: list[DeploymentView]) -> list[str]:
    """Which builds that no longer receive new work can go, and which still drain."""
    routed = {b for found in views for b in (found.current, found.ramping) if b}
    pinned: dict[str, int] = {}
    used: set[str] = set()  # was current or ramping once (server status other than inactive)
    for found in views:
        for v in found.versions:
            if v.build_id not in routed:
                pinned[v.build_id] = pinned.get(v.build_id, 0) + v.open_pinned
                if v.status != "inactive" or v.open_pinned:
                    used.add(v.build_id)
    gone = sorted(b for b, n in pinned.items() if not n and b in used)
    draining = sorted(b for b, n in pinned.items() if n)
    unused = sorted(b for b in pinned if b not in used)
    lines = []
    if gone:
        lines.append(
            "drained on every queue (no new work, no open pinned workflow), can be removed: "
            + ", ".join(gone)
        )
    if draining:
        lines.append(
            "still draining: "
            + ", ".join(f"{b} ({pinned[b]} open pinned workflow(s))" for b in draining)
        )
    if unused:
        lines.append("never current or ramping here: " + ", ".join(unused))
    return lines


def status(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Each queue's deployment: which build is current or ramping, and per build its
    status, pollers and open pinned workflows; then which builds have drained and can be
    removed (e.g. from the chart's versioning.retainedBuilds) and which still drain."""

    async def body(client: Client, settings: Settings) -> int:
        try:
            views = [
                await view(client, t)
                for t in targets(settings.versioning, prefix=settings.queue_prefix)
            ]
        except RPCError as exc:
            return refused(exc)
        if as_json:
            print_json(
                [
                    {
                        "deployment": v.target.deployment,
                        "task_queue": v.target.task_queue,
                        "exists": v.exists,
                        "current": v.current,
                        "ramping": v.ramping,
                        "ramp_percentage": v.ramp_percentage,
                        "versions": [asdict(version) for version in v.versions],
                    }
                    for v in views
                ]
            )
        else:
            typer.echo(_table(views))
        return 0

    run_client_command(body)


def promote_cmd(
    build_id: Annotated[str, typer.Argument(help="the build to promote", callback=build_id_arg)],
    ramp: Annotated[
        float | None,
        typer.Option(min=0.01, max=100, help="send only this percentage of new workflows"),
    ] = None,
    wait: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="seconds to wait for the build's pollers on every queue; default: 60 for a "
            "build a deployment knows, none for one no deployment has seen",
        ),
    ] = None,
    queue: Annotated[
        list[TaskQueue] | None,
        typer.Option(help="only this queue's deployment (repeatable); default: every queue"),
    ] = None,
) -> None:
    """Make BUILD_ID current on every queue's deployment (or ramp it), once it has pollers
    on every queue. Pinned workflows stay on their build; auto-upgrade ones move. A wait
    longer than 2 s says what it waits for."""

    async def body(client: Client, settings: Settings) -> int:
        deployments = [
            t
            for t in targets(settings.versioning, prefix=settings.queue_prefix)
            if not queue or t.queue in queue
        ]
        try:
            await promote(
                client,
                deployments,
                build_id,
                ramp=ramp,
                wait_seconds=wait,
                report=lambda line: typer.echo(f"rtw: {line}", err=True),
            )
        except UnknownBuildError as exc:
            typer.echo(
                f"rtw: {exc}; nothing was promoted. Start its workers first, or pass "
                f"--wait SECONDS to wait for them: rtw deployment promote {build_id} --wait 120",
                err=True,
            )
            return 1
        except DeploymentError as exc:
            typer.echo(f"rtw: {exc}; nothing was promoted", err=True)
            return 1
        except RPCError as exc:
            return refused(exc)
        how = "current" if ramp is None or ramp >= 100 else f"ramping at {ramp:g}%"
        for target in deployments:
            typer.echo(f"{target.deployment}: {build_id} is {how}")
        return 0

    run_client_command(body)


def _describe(found: Drainage) -> str:
    if not found.known:
        return f"{found.deployment}: {found.build_id} unknown here (nothing to drain)"
    if found.drained:
        lag = (
            ""
            if found.server_status == "drained"
            else f"; server's last check: {found.server_status}"
        )
        return f"{found.deployment}: drained (no new work, no open pinned workflow{lag})"
    why = []
    if found.routed:
        why.append("still receives new work (current or ramping)")
    if found.open_pinned:
        why.append(f"{found.open_pinned} open pinned workflow(s)")
    lines = [f"{found.deployment}: NOT drained: {', '.join(why)}"]
    lines += [f"  {w.workflow_type} {w.workflow_id}" for w in found.workflows]
    if found.open_pinned > len(found.workflows):
        lines.append(f"  … and {found.open_pinned - len(found.workflows)} more")
    return "\n".join(lines)


def drain_status(
    build_id: Annotated[str, typer.Argument(help="the build to check", callback=build_id_arg)],
) -> None:
    """Is BUILD_ID drained on every queue (no new work routed there, no pinned workflow
    open on it)? Lists what still runs there; exit 0 only when drained everywhere."""

    async def body(client: Client, settings: Settings) -> int:
        try:
            found = [
                await drainage(client, t, build_id)
                for t in targets(settings.versioning, prefix=settings.queue_prefix)
            ]
        except RPCError as exc:
            return refused(exc)
        for item in found:
            typer.echo(_describe(item))
        if not any(item.known for item in found):
            typer.echo(f"rtw: no deployment knows build {build_id}", err=True)
            return 2
        drained = all(item.drained for item in found)
        typer.echo(f"build {build_id}: {'drained' if drained else 'not drained'}")
        return 0 if drained else 1

    run_client_command(body)


deployment_app.command("status")(status)
deployment_app.command("promote")(promote_cmd)
deployment_app.command("drain-status")(drain_status)
deployment_app.command("guard")(guard)
