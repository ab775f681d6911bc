"""One store per deployment: workers announce their store, and refuse to join peers that
use another.

Every worker tags its Temporal identity with its store (`rtw-store=<location>#<id>`, the id
made by `rtw db migrate`). Before it polls, a worker asks the server who polls the
deployment's queues (DescribeTaskQueue) and refuses to start when a peer seen lately
announces another store: a payments worker started without `RTW_DATABASE_URL` (its own
SQLite file) beside replicas on PostgreSQL would otherwise take half the payments into a
ledger nobody else reads.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

from temporalio.api.taskqueue.v1 import PollerInfo
from temporalio.client import Client

from services.contracts import TaskQueue, queue_name
from services.runtime.database import StoreIdentity
from services.runtime.pollers import POLLED, describe_pollers

#: What a worker's Temporal identity carries after its pid@host.
STORE_TAG = "rtw-store="
#: A poller last seen longer ago than this is taken to be gone (an idle worker long-polls
#: about once a minute; the server lists a stopped one for a few minutes).
PEER_WINDOW_SECONDS = 90.0

_TAG = re.compile(re.escape(STORE_TAG) + r"(\S+)")


def worker_identity(store: StoreIdentity) -> str:
    """`pid@host rtw-store=<tag>`: the Temporal identity of a worker on `store`."""
    return f"{os.getpid()}@{socket.gethostname()} {STORE_TAG}{store.tag}"


def store_of(identity: str) -> str | None:
    """The store tag in a worker identity, or None for a worker that announces none."""
    found = _TAG.search(identity)
    return found.group(1) if found else None


@dataclass(frozen=True)
class Peer:
    """A worker polling one of the deployment's queues, and the store it announces."""

    queue: str
    identity: str
    store: str


def _recent(pollers: Iterable[PollerInfo], now: float) -> list[PollerInfo]:
    return [
        p
        for p in pollers
        if not p.HasField("last_access_time")
        or now - p.last_access_time.ToDatetime().timestamp() <= PEER_WINDOW_SECONDS
    ]


async def peers(client: Client, *, prefix: str) -> list[Peer]:
    """Workers seen lately on the deployment's queues that announce a store."""
    found: dict[tuple[str, str], Peer] = {}
    now = time.time()
    for queue, kinds in POLLED.items():
        name = queue_name(queue, prefix=prefix)
        for kind in kinds:
            for poller in _recent(await describe_pollers(client, name, kind), now):
                store = store_of(poller.identity)
                if store is not None:
                    found[(name, poller.identity)] = Peer(name, poller.identity, store)
    return list(found.values())


class StoreMismatchError(RuntimeError):
    """A peer of this deployment uses another store."""


async def check_same_store(
    client: Client, store: StoreIdentity, *, prefix: str, queue: TaskQueue
) -> None:
    """Raise `StoreMismatchError` (one line naming both stores) when a worker of this
    deployment, seen in the last PEER_WINDOW_SECONDS, announces another store."""
    own = worker_identity(store)
    for peer in await peers(client, prefix=prefix):
        if peer.store != store.tag and peer.identity != own:
            raise StoreMismatchError(
                f"refusing to start the {queue.value} worker: it uses store {store.tag}, but "
                f"{peer.identity.split()[0]} polling {peer.queue} uses {peer.store}; every "
                "worker of one deployment must use the same store (RTW_DATABASE_URL)"
            )
