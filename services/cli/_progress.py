"""What `rtw order start --wait` says on stderr while it waits: state changes, what the
order waits for, and a warning when no worker polls its task queue."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import typer
from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError

from services.contracts import STATUS_QUERY, OrderState, OrderStatus
from services.orchestration.client import workflow_pollers
from services.runtime.invocation import rtw_command

logger = logging.getLogger(__name__)

#: Without a worker polling this long, say so (a worker just starting needs a moment).
NO_WORKER_WARNING_SECONDS = 5.0
#: How often the `status` query is asked.
POLL_INTERVAL_SECONDS = 1.0


def describe_state(order_id: str, state: OrderState) -> str:
    """The stderr line for a state the order entered, with the next command when it waits."""
    if state is OrderState.AWAITING_APPROVAL:
        rtw = rtw_command()
        return (
            f"rtw: order {order_id}: awaiting approval: run "
            f"`{rtw} order approve {order_id} --reviewer NAME` "
            f"(or `{rtw} order reject {order_id} --reviewer NAME`)"
        )
    return f"rtw: order {order_id}: {state.value}"


async def report_progress(
    client: Client,
    handle: WorkflowHandle[object, OrderStatus],
    *,
    order_id: str,
    task_queue: str,
    no_worker_after: float = NO_WORKER_WARNING_SECONDS,
    interval: float = POLL_INTERVAL_SECONDS,
) -> None:
    """Print the order's progress on stderr until cancelled (when its result arrives).

    Temporal errors are not reported here: the wait for the result reports them.
    """
    loop = asyncio.get_running_loop()
    began = loop.time()
    last: OrderState | None = None
    warned = False
    while True:
        try:
            pollers = await workflow_pollers(client, task_queue)
            if pollers == 0:
                if not warned and loop.time() - began >= no_worker_after:
                    rtw = rtw_command()
                    typer.echo(
                        f"rtw: warning: no worker polls task queue {task_queue!r}; the order "
                        f"waits until one does (start one with '{rtw} worker orchestration' "
                        f"or '{rtw} dev')",
                        err=True,
                    )
                    warned = True
            else:
                status: OrderStatus = await handle.query(
                    STATUS_QUERY,
                    result_type=OrderStatus,
                    rpc_timeout=timedelta(seconds=max(interval, 2.0)),
                )
                if status.state is not last:
                    typer.echo(describe_state(order_id, status.state), err=True)
                    last = status.state
        except (RPCError, WorkflowQueryFailedError) as exc:
            logger.debug("progress poll failed: %s", exc)
        await asyncio.sleep(interval)
