"""Replay safety: today's workflow code must replay the committed histories of
representative runs; a deliberately incompatible change must be caught."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from services.contracts import (
    ORDER_SAGA_WORKFLOW,
    SHIPMENT_WORKFLOW,
    ShipmentInput,
    ShipmentStatus,
    order_workflow_id,
)
from services.orchestration import WORKFLOWS, Shipment
from services.orchestration.replay import history_replayer
from services.orchestration.unversioned import UNVERSIONED_WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
FILES = sorted(HISTORIES.glob("*.json"))

#: The runs the issue asks to keep (more may be added).
REQUIRED = {
    "order_approved",
    "order_rejected",
    "order_approval_timed_out",
    "order_compensated",
    "order_shipment_lost",
    "shipment_lost",
    "subscription_run1_continued_as_new",
    "subscription_run2_cancelled",
}


def workflow_id_of(history: dict[str, Any], fallback: str) -> str:
    """The id the run had: a history file does not record it, and an OrderSaga refuses to
    run under any id but `order-<order_id>` (read from its recorded input)."""
    start = history["events"][0]["workflowExecutionStartedEventAttributes"]
    if start["workflowType"]["name"] != ORDER_SAGA_WORKFLOW:
        return fallback
    order = json.loads(base64.b64decode(start["input"]["payloads"][0]["data"]))
    return order_workflow_id(order["order_id"])


def load(path: Path) -> WorkflowHistory:
    text = path.read_text(encoding="utf-8")
    return WorkflowHistory.from_json(workflow_id_of(json.loads(text), path.stem), text)


def replayer(workflows: list[type]) -> Replayer:
    """A replayer with the converter the workers use (pydantic): payloads must decode."""
    return history_replayer(workflows)


def test_every_representative_run_is_kept() -> None:
    assert {f.stem for f in FILES} >= REQUIRED


async def test_current_code_replays_every_history() -> None:
    histories = [load(f) for f in FILES]

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    results = await replayer(WORKFLOWS).replay_workflows(each(), raise_on_replay_failure=False)
    names = {h.run_id: h.workflow_id for h in histories}
    failures = {names[run_id]: repr(err) for run_id, err in results.replay_failures.items()}
    assert failures == {}, "incompatible with committed histories (see docs/changing-workflows.md)"


async def test_the_unversioned_twins_replay_every_history() -> None:
    """Workers with RTW_WORKER_VERSIONING=false run the same code."""
    histories = [load(f) for f in FILES]

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    results = await replayer(UNVERSIONED_WORKFLOWS).replay_workflows(
        each(), raise_on_replay_failure=False
    )
    assert results.replay_failures == {}


@workflow.defn(name=SHIPMENT_WORKFLOW)
class ShipmentWithAnExtraTimer(Shipment):
    """An incompatible change: a new timer before booking, without `workflow.patched`."""

    @workflow.run
    async def run(self, shipment: ShipmentInput) -> ShipmentStatus:
        await workflow.sleep(timedelta(seconds=5))
        return await super().run(shipment)


async def test_an_incompatible_change_is_caught_as_nondeterminism() -> None:
    altered = [ShipmentWithAnExtraTimer if w is Shipment else w for w in WORKFLOWS]

    result = await replayer(altered).replay_workflow(
        load(HISTORIES / "shipment_lost.json"), raise_on_replay_failure=False
    )

    assert isinstance(result.replay_failure, workflow.NondeterminismError), repr(
        result.replay_failure
    )


@workflow.defn(name=SHIPMENT_WORKFLOW)
class ShipmentWithAPatchedTimer(Shipment):
    """The same change made safely: old histories take the old path."""

    @workflow.run
    async def run(self, shipment: ShipmentInput) -> ShipmentStatus:
        if workflow.patched("pre-booking-delay"):
            await workflow.sleep(timedelta(seconds=5))
        return await super().run(shipment)


async def test_the_same_change_behind_a_patch_replays() -> None:
    patched = [ShipmentWithAPatchedTimer if w is Shipment else w for w in WORKFLOWS]

    result = await replayer(patched).replay_workflow(
        load(HISTORIES / "shipment_lost.json"), raise_on_replay_failure=False
    )

    assert result.replay_failure is None, repr(result.replay_failure)


async def test_histories_replay_with_encryption_turned_on() -> None:
    """Turning the codec on must not break runs recorded before it: plain payloads pass."""
    # imported here: this module's workflows are loaded into the sandbox, cryptography is not
    from services.runtime.codec import EncryptionCodec, KeyRing

    codec = EncryptionCodec(KeyRing(active="k1", keys={"k1": bytes(range(32))}))
    histories = [load(f) for f in FILES]

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    results = await history_replayer(WORKFLOWS, codec=codec).replay_workflows(
        each(), raise_on_replay_failure=False
    )
    assert results.replay_failures == {}
