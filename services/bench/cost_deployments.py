"""What Worker Versioning costs in actions: rtw's three versioned workers started and
promoted, restarted, promoted again, and a rollout of a new build with the old one draining."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from temporalio.client import WorkflowFailureError

from services.bench.actions import DEFAULT_NAMESPACE, delta, total
from services.bench.billable import TIMER
from services.bench.cost_orders import LARGE_CENTS, await_event, state_upsert
from services.bench.cost_stacks import (
    DEPLOYMENT_QUIET_SECONDS,
    DRAINAGE_SECONDS,
    CostRun,
    Measured,
    Stack,
    measure,
)
from services.bench.driver import order
from services.contracts import OrderState
from services.orchestration.client import start_order

#: Seconds a draining build with an open pinned order is watched (several refreshes).
DRAINING_WATCH_SECONDS = 5 * DRAINAGE_SECONDS


async def worker_starts(run: CostRun, main: Stack) -> dict[str, Measured]:
    """The three versioned workers of a first build, started and then promoted as the chart
    does (`RTW_PROMOTE_ON_START=never`, then `rtw deployment promote`; `rtw dev` promotes at
    start: the same calls); a restart of the same build; the promotion run again (a `helm
    upgrade` that changes no image); unversioned workers for reference."""
    quiet = DEPLOYMENT_QUIET_SECONDS
    starts: dict[str, Measured] = {}
    run.progress("worker start: three versioned workers, first build")
    starts["first_start"] = await measure(run.meter, main.start, quiet=quiet)
    run.progress("worker start: promote the first build")
    starts["first_promote"] = await measure(
        run.meter, lambda: main.promote(run.client), quiet=quiet
    )

    async def restart() -> None:
        await main.stop()
        await main.start()

    run.progress("worker start: the same build again")
    starts["restart_same_build"] = await measure(run.meter, restart, quiet=quiet)
    run.progress("worker start: promote the same build again")
    starts["promote_same_build"] = await measure(
        run.meter, lambda: main.promote(run.client), quiet=quiet
    )
    unversioned = Stack(
        run.server.address, "u-", run.work_dir / "u", versioned=False, build_id="bench-a"
    )

    async def start_stop() -> None:
        try:
            await unversioned.start()
        finally:
            await unversioned.stop()

    run.progress("worker start: three unversioned workers")
    starts["unversioned_start"] = await measure(run.meter, start_stop, quiet=quiet)
    return starts


async def rollout_and_drain(
    run: CostRun, main: Stack
) -> tuple[dict[str, Measured], dict[str, Any]]:
    """A new build's workers started (not promoted), then `rtw deployment promote`; then,
    with an order waiting for approval on the new build, a rollback: the new build drains,
    refreshing its drainage status while that pinned order is open."""
    new = Stack(
        run.server.address, main.prefix, main.data_dir, build_id="bench-b", promote_on_start="never"
    )
    try:
        return await _rollout(run, main, new)
    finally:
        await new.stop()


async def _rollout(
    run: CostRun, main: Stack, new: Stack
) -> tuple[dict[str, Measured], dict[str, Any]]:
    quiet = DEPLOYMENT_QUIET_SECONDS
    rollout: dict[str, Measured] = {}
    run.progress("rollout: the new build's workers")
    rollout["new_build_workers"] = await measure(run.meter, new.start, quiet=quiet)
    run.progress("rollout: promote the new build")
    rollout["promote"] = await measure(run.meter, lambda: new.promote(run.client), quiet=quiet)
    run.progress("rollout: a build draining with an open pinned order")
    pending = await start_order(
        run.client,
        order(f"{run.tag}-pinned", "pm_card_visa", unit_price_cents=LARGE_CENTS),
        task_queue=new.queue,
    )
    await await_event(pending.handle, state_upsert(OrderState.AWAITING_APPROVAL))
    await main.promote(run.client)  # a rollback: the new build drains, one order still on it
    await asyncio.sleep(2 * DRAINAGE_SECONDS)  # the rollback's own bookkeeping
    before = await run.meter.read()
    began = time.monotonic()
    await asyncio.sleep(DRAINING_WATCH_SECONDS)
    after = await run.meter.read()
    watched = delta(before, after, namespace=DEFAULT_NAMESPACE)
    refreshes = watched.get(TIMER, 0)
    draining = {
        "seconds": round(time.monotonic() - began, 1),
        "refresh_every_seconds": DRAINAGE_SECONDS,
        "refreshes": refreshes,
        "actions": total(watched),
        "actions_per_refresh": round(total(watched) / refreshes, 1) if refreshes else None,
        "by_type": watched,
    }
    await pending.handle.cancel()
    with contextlib.suppress(WorkflowFailureError):
        await pending.handle.result()
    return rollout, draining
