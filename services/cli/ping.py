"""`rtw ping`: is every queue served? Pollers first, then a round trip through each worker."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from temporalio.client import Client

from services.cli._support import print_json, run_client_command
from services.runtime.config import Settings


def ping(
    timeout: Annotated[float, typer.Option(min=1, help="seconds to wait for every answer")] = 60,
) -> None:
    """Check that every task queue has a worker polling it (DescribeTaskQueue), then run the
    no-op `Ping` workflow, which calls one activity on each queue. Moves no money and
    touches no state; exit 0 only when every queue answered."""
    from temporalio.client import WorkflowFailureError

    from services.orchestration.liveness import ping as run_ping
    from services.orchestration.liveness import queue_pollers

    async def body(client: Client, settings: Settings) -> int:
        polled = await queue_pollers(client, prefix=settings.queue_prefix)
        idle = [p.queue for p in polled if p.pollers == 0]
        if idle:
            typer.echo(f"rtw: no worker polls task queue(s) {', '.join(idle)}", err=True)
            return 1
        try:
            result = await run_ping(
                client, prefix=settings.queue_prefix, timeout=timedelta(seconds=timeout)
            )
        except WorkflowFailureError as err:
            typer.echo(f"rtw: ping failed: {err.cause or err}", err=True)
            return 1
        print_json(
            {
                "pollers": {p.queue: p.pollers for p in polled},
                "answers": [a.model_dump() for a in result.answers],
            }
        )
        return 0

    run_client_command(body)
