"""Do a process's dependencies answer? Temporal (one cheap, unbilled RPC) and the store (one
`SELECT 1`). The gateway and the worker host turn the answers into readiness."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import RPCError

from services.runtime.database import Database, DatabaseError

#: How often dependencies are asked, and how long an answer may take.
CHECK_SECONDS = 2.0
CHECK_TIMEOUT_SECONDS = 1.5


async def check_temporal(client: Client, *, timeout: float = CHECK_TIMEOUT_SECONDS) -> str | None:
    """None when the server answers within `timeout`, else why not (one RPC, no retries):
    `GetSystemInfo`, what the SDK itself asks on connect."""
    try:
        await client.workflow_service.get_system_info(
            GetSystemInfoRequest(), retry=False, timeout=timedelta(seconds=timeout)
        )
    except RPCError as exc:
        return f"{exc.status.name}: {exc.message}"
    except RuntimeError as exc:  # the bridge's own connection errors
        return str(exc) or type(exc).__name__
    return None


async def check_store(db: Database, *, timeout: float = CHECK_TIMEOUT_SECONDS) -> str | None:
    """None when the store answers within `timeout` (a free pooled connection included),
    else why not."""
    try:
        await db.ping(timeout=timeout)
    except DatabaseError as exc:
        return str(exc)
    return None
