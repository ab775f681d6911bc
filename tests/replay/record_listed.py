"""Record the history `order_approved_listed`: `python -m tests.replay.record_listed`.

An approved large order whose policy says the namespace has the order search attributes, so
the saga upserts `RtwOrderState`/`RtwCustomerId` at each step. The time-skipping server of
`tests.replay.generate` has no such attributes, so this one run is recorded on the embedded dev
server (which registers them), with the same rig of stand-in activities. Only re-record on
purpose, like the other histories.

The rig's workers are not versioned, so they run the behavior-free twins of the workflows
(`UNVERSIONED_WORKFLOWS`: same names and code); the dev server refuses a PINNED workflow's
tasks from an unversioned worker.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from services.contracts import APPROVE, ApprovalRequest, OrderPolicy
from services.orchestration.unversioned import UNVERSIONED_WORKFLOWS
from services.runtime.config import TemporalSettings
from services.runtime.connection import connect
from services.runtime.devserver import DevServer, free_port
from tests.orchestration.rig import LARGE_ORDER, saga_rig, saga_state
from tests.replay.generate import HISTORIES
from tests.replay.scenarios import _order

NAME = "order_approved_listed"


async def record(out: Path) -> Path:
    """Run the scenario on a fresh dev server and write its history; return the file."""
    data_dir = Path(tempfile.mkdtemp(prefix="rtw-replay-"))
    server = DevServer(data_dir=data_dir, port=free_port(), ui_port=None)
    await server.start()
    try:
        client = await connect(TemporalSettings(address=server.address))
        env = WorkflowEnvironment.from_client(client)
        prefix = f"replay-{uuid.uuid4().hex[:6]}-"
        async with saga_rig(
            env,
            prefix,
            policy=OrderPolicy(search_attributes=True),
            workflows=UNVERSIONED_WORKFLOWS,
        ) as rig:
            handle = await _order(rig, "approved-listed", LARGE_ORDER)
            await saga_state(handle, "awaiting_approval")
            await handle.execute_update(APPROVE, ApprovalRequest(reviewer="alice", reason="vip"))
            await handle.result()
            history = await handle.fetch_history()
    finally:
        await server.stop()
    file = out / f"{NAME}.json"
    file.write_text(json.dumps(history.to_json_dict(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {file} ({len(history.events)} events)", flush=True)
    return file


if __name__ == "__main__":
    asyncio.run(record(HISTORIES))
