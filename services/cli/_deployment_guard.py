"""`rtw deployment guard`: refuse a release that would remove the workers of a build that
open pinned workflows still run on (the chart's pre-upgrade and pre-rollback hook)."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from services.cli._support import run_client_command
from services.runtime.config import Settings
from services.runtime.deployments import targets, versioning_problem
from services.runtime.rollout import StrandedBuild, stranded_builds

_BUILD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: What `--fix` text replaces with the names of the builds it refuses to remove.
BUILDS_PLACEHOLDER = "{builds}"


def build_id_arg(value: str) -> str:
    """Typer callback: a build id as Temporal and the chart accept it."""
    if not _BUILD_ID.match(value):
        raise typer.BadParameter(
            "a build id is 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return value


def _build_ids(values: list[str] | None) -> list[str]:
    return [build_id_arg(v) for v in values or []]


def refused(exc: RPCError) -> int:
    """Print why the server refused a deployment call (one line) and return exit code 1."""
    typer.echo(f"rtw: {versioning_problem(exc) or exc.message}", err=True)
    return 1


def _without_deployments(exc: RPCError) -> bool:
    """The server has Worker Deployments switched off (or lacks them): nothing can be pinned."""
    return exc.status is RPCStatusCode.UNIMPLEMENTED or "disabled" in exc.message.lower()


def refusal(found: list[StrandedBuild], *, fix: str | None, allowed: bool) -> list[str]:
    """The lines that say which builds the release would strand, and what to do."""
    builds = sorted({s.build_id for s in found})
    named = ", ".join(builds)
    if allowed:
        head = (
            f"rtw: WARNING: stranding allowed: this release removes the workers of build(s) "
            f"{named}; their open pinned workflows stop until a worker of their build runs again"
        )
    else:
        head = (
            f"rtw: refusing this release: it removes the workers of build(s) {named}, "
            "which open pinned workflows still run on"
        )
    lines = [head]
    lines += [f"  build {s.build_id}: {s.describe()}" for s in found]
    if not allowed:
        how = (fix or "").replace(BUILDS_PLACEHOLDER, named) or (
            f"keep the workers of {named} running until "
            f"`rtw deployment drain-status BUILD` says drained"
        )
        lines.append(f"fix: {how}")
        lines.append(
            "check: "
            + "; ".join(f"rtw deployment drain-status {b} (exit 0 once drained)" for b in builds)
        )
    return lines


def guard(
    keep: Annotated[
        list[str] | None,
        typer.Option(
            "--keep",
            help="a build the release keeps running (repeatable); every other build goes",
        ),
    ] = None,
    allow_stranding: Annotated[
        bool,
        typer.Option(
            "--allow-stranding",
            help="report the builds it would strand, but let the release go on (exit 0)",
        ),
    ] = False,
    fix: Annotated[
        str | None,
        typer.Option(
            help=f"how to keep a build, printed with a refusal ({BUILDS_PLACEHOLDER} names them)"
        ),
    ] = None,
) -> None:
    """Exit 1 when a build outside --keep still has open pinned workflows on any queue's
    Worker Deployment: a release that runs only the --keep builds would leave those
    workflows without a worker of their build. Names each build, how many workflows of
    which types, and the fix. The chart runs it before every upgrade and rollback."""
    kept = _build_ids(keep)

    async def body(client: Client, settings: Settings) -> int:
        deployments = targets(settings.versioning, prefix=settings.queue_prefix)
        try:
            found = await stranded_builds(client, deployments, kept)
        except RPCError as exc:
            if _without_deployments(exc):
                typer.echo(
                    "guard: the server runs no Worker Deployments, so no workflow is pinned "
                    "to a build; nothing to check"
                )
                return 0
            return refused(exc)
        if not found:
            typer.echo(
                f"guard: no build other than {', '.join(kept) or '(none)'} has open pinned "
                "workflows; the release may remove the others"
            )
            return 0
        for line in refusal(found, fix=fix, allowed=allow_stranding):
            typer.echo(line, err=True)
        return 0 if allow_stranding else 1

    run_client_command(body)
