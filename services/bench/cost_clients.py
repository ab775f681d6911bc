"""What the clients around an order cost on top of the order itself: a shop waiting with
`rtw order start --wait`, a status read (`rtw order status`, GET /orders/{id}, the inbox),
the `accepted` update (an update with a wait condition), reading the history (how `--wait`
and a result wait learn of changes) and a submission through the gateway's path."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client, WorkflowFailureError

from services.bench.actions import ActionMeter
from services.bench.cost_orders import (
    LARGE_CENTS,
    await_event,
    state_upsert,
    submitted,
)
from services.bench.cost_stacks import ORDER_QUIET_SECONDS, Measured, Stack, measure
from services.bench.driver import order
from services.contracts import (
    ACCEPTED,
    APPROVE,
    ApprovalRequest,
    OrderState,
    OrderStatus,
    order_workflow_id,
)
from services.orchestration.client import decide_order, explain_order, start_order

#: Seconds `rtw order start --wait` may take for a happy order before the bench gives up.
CLI_TIMEOUT_SECONDS = 120.0


class ClientCommandError(RuntimeError):
    """A client command the bench ran failed."""


@dataclass(frozen=True)
class ClientCost:
    """One client operation: what it is, and the actions it added beyond the order's own."""

    name: str
    what: str
    measured: Measured
    extra: int

    def record(self) -> dict[str, Any]:
        """As JSON."""
        return {"what": self.what, "extra_actions": self.extra, **self.measured.record()}


#: Seconds a reviewer takes in the `--wait` scenario with an approval.
REVIEW_SECONDS = 5.0


async def spawn_wait(address: str, stack: Stack) -> asyncio.subprocess.Process:
    """`rtw order start --file - --wait`, as a shop's script would run it."""
    env = {**os.environ, "TEMPORAL_ADDRESS": address, "RTW_QUEUE_PREFIX": stack.prefix}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services",
        "order",
        "start",
        "--file",
        "-",
        "--wait",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def _finished(process: asyncio.subprocess.Process, body: bytes | None = None) -> None:
    _, err = await asyncio.wait_for(process.communicate(body), CLI_TIMEOUT_SECONDS)
    if process.returncode != 0:
        raise ClientCommandError(
            f"rtw order start --wait exited {process.returncode}: {err.decode()[-500:]}"
        )


async def wait_with_cli(address: str, stack: Stack, order_id: str) -> None:
    """`rtw order start --wait` for a happy order."""
    body = order(order_id, "pm_card_visa").model_dump_json().encode()
    await _finished(await spawn_wait(address, stack), body)


async def wait_for_review_with_cli(
    client: Client, address: str, stack: Stack, order_id: str
) -> None:
    """`rtw order start --wait` for a large order a reviewer approves REVIEW_SECONDS after
    it starts waiting."""
    process = await spawn_wait(address, stack)
    assert process.stdin is not None
    process.stdin.write(
        order(order_id, "pm_card_visa", unit_price_cents=LARGE_CENTS).model_dump_json().encode()
    )
    process.stdin.close()
    assert process.stdout is not None
    await asyncio.wait_for(process.stdout.readline(), CLI_TIMEOUT_SECONDS)  # started
    handle = client.get_workflow_handle(order_workflow_id(order_id))
    await await_event(handle, state_upsert(OrderState.AWAITING_APPROVAL))
    await asyncio.sleep(REVIEW_SECONDS)
    await decide_order(client, order_id, APPROVE, ApprovalRequest(reviewer="bench"))
    await _finished(process)


async def client_costs(
    client: Client,
    meter: ActionMeter,
    stack: Stack,
    *,
    address: str,
    happy_actions: int,
    approved_actions: int | None,
    tag: str,
    only: Collection[str] | None = None,
) -> list[ClientCost]:
    """Measure each client operation once, or those named in `only` (they are exact: no
    timing in them but `--wait`'s former polling, whose count is what is measured)."""
    costs: list[ClientCost] = []

    async def one(
        name: str, what: str, work: Callable[[], Awaitable[object]], *, baseline: int = 0
    ) -> None:
        if only is not None and name not in only:
            return
        measured = await measure(meter, work, quiet=ORDER_QUIET_SECONDS)
        costs.append(ClientCost(name, what, measured, measured.total - baseline))

    await one(
        "wait_cli",
        "`rtw order start --wait` on a happy order (beyond the order's own actions)",
        lambda: wait_with_cli(address, stack, f"{tag}-wait"),
        baseline=happy_actions,
    )
    if approved_actions is not None:  # the approved order's own count is known
        await one(
            "wait_cli_review",
            f"`rtw order start --wait` on an order a reviewer approves after "
            f"{REVIEW_SECONDS:g} s (beyond the order's own actions)",
            lambda: wait_for_review_with_cli(client, address, stack, f"{tag}-review"),
            baseline=approved_actions,
        )
    await one(
        "gateway_submit",
        "a happy order submitted as the gateway does (Idempotency-Key marker, "
        "update-with-start with `accepted`), beyond the order's own actions",
        lambda: submitted(client, f"{tag}-http", stack.queue),
        baseline=happy_actions,
    )
    if only is not None and not {"status_read", "accepted_update", "history_read"} & set(only):
        return costs
    # A large order waiting for approval is the reader's subject: it stays put meanwhile.
    waiting = f"{tag}-waiting"
    started = await start_order(
        client,
        order(waiting, "pm_card_visa", unit_price_cents=LARGE_CENTS),
        task_queue=stack.queue,
    )
    await await_event(started.handle, state_upsert(OrderState.AWAITING_APPROVAL))
    await one(
        "status_read",
        "one status read of a running order (`rtw order status`, GET /orders/{id}, one "
        "inbox row): the `status` query",
        lambda: explain_order(client, waiting),
    )
    await one(
        "accepted_update",
        "one `accepted` update (an update whose handler waits on a condition)",
        lambda: started.handle.execute_update(ACCEPTED, result_type=OrderStatus),
    )

    async def read_history() -> None:
        await started.handle.describe()
        await started.handle.fetch_history()

    await one(
        "history_read",
        "describe and read the history (what `--wait` and a result wait poll): not billed",
        read_history,
    )
    await started.handle.cancel()  # it compensates: done before anything else is measured
    with contextlib.suppress(WorkflowFailureError):
        await started.handle.result()
    return costs
