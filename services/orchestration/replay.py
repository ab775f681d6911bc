"""Replay recorded histories against the current workflow code (CI, and before deploying)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from temporalio.converter import PayloadCodec
from temporalio.worker import Replayer

from services.contracts import TaskQueue
from services.runtime.converter import rtw_data_converter

#: The Replayer runs workflows on the task queue `replay-<build_id>`. rtw workflows derive
#: their deployment's queue prefix from their own task queue (it must end in
#: `orchestration`), so replay uses this build id: the queue becomes `replay-orchestration`.
REPLAY_BUILD_ID = TaskQueue.ORCHESTRATION.value


def history_replayer(
    workflows: Sequence[type] | None = None, *, codec: PayloadCodec | None = None
) -> Replayer:
    """A Replayer set up like the orchestration worker: same workflows, same (pydantic)
    data converter and payload codec, and a task queue the workflows accept."""
    if workflows is None:
        from services.orchestration.worker import WORKFLOWS

        workflows = WORKFLOWS
    return Replayer(
        workflows=list(workflows),
        data_converter=dataclasses.replace(rtw_data_converter, payload_codec=codec),
        build_id=REPLAY_BUILD_ID,
    )
