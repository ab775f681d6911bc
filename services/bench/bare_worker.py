"""A bare-SDK worker process for the baselines: `python -m services.bench.bare_worker ROLE`.

Plain `temporalio` (default converter, default sandbox, no rtw plugin), one task queue per
role (`<prefix><role>`), running until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from temporalio.client import Client
from temporalio.worker import Worker

from services.bench.bare_activities import BareActivities
from services.bench.bare_same_shape import BareSameShapeSaga, BareSameShapeShipment
from services.bench.bare_workflows import (
    ORCHESTRATION,
    BareFourActivities,
    BareNaiveSaga,
    BareNaiveShipment,
    BareNoop,
    BareOneActivity,
)

WORKFLOWS: list[type] = [
    BareNoop,
    BareOneActivity,
    BareFourActivities,
    BareNaiveSaga,
    BareNaiveShipment,
    BareSameShapeSaga,
    BareSameShapeShipment,
]


async def serve(role: str, *, address: str, prefix: str) -> None:
    """Poll `<prefix><role>` until SIGTERM/SIGINT."""
    client = await Client.connect(address)
    activities = BareActivities(client)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = Worker(
        client,
        task_queue=prefix + role,
        workflows=WORKFLOWS if role == ORCHESTRATION else [],
        activities=[activities.step, activities.book]
        if role == ORCHESTRATION
        else [activities.step],
    )
    async with worker:
        await stop.wait()


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["orchestration", "payments", "notifications"])
    parser.add_argument("--address", required=True)
    parser.add_argument("--prefix", default="")
    args = parser.parse_args()
    asyncio.run(serve(args.role, address=args.address, prefix=args.prefix))


if __name__ == "__main__":
    main()
