"""The no-op `<queue>.ping` activity every worker service registers (see `Ping`)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

from temporalio import activity

from services.contracts import PingRequest, Pong, TaskQueue, ping_activity
from services.runtime.database import StoreIdentity


def ping_activity_for(queue: TaskQueue, *, store: StoreIdentity) -> Callable[..., Any]:
    """An activity named `<queue>.ping` that answers with the worker's host, pid and store."""

    async def ping(request: PingRequest) -> Pong:
        return Pong(
            queue=activity.info().task_queue,
            worker=f"{socket.gethostname()}:{os.getpid()}",
            store=store.tag,
        )

    ping.__doc__ = f"Answer a ping on the {queue.value} queue (no side effects)."
    return activity.defn(name=ping_activity(queue))(ping)
