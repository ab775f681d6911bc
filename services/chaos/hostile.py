"""Hostile input against a live stack: each must get a typed error and wedge nothing."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import RawValue, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from services.chaos.orders import OrderKind, make_order
from services.contracts import (
    APPROVE,
    ORDER_SAGA_WORKFLOW,
    STATUS_QUERY,
    ApprovalResult,
    OrderStatus,
    order_workflow_id,
)

#: Larger than Temporal's 2 MB payload limit.
OVERSIZED_BYTES = 3 * 1024 * 1024


@dataclass
class Probe:
    """One hostile attempt: what was sent, what came back, whether that was right."""

    name: str
    expected: str
    got: str
    ok: bool
    wedged: bool = False


def raw_payload(data: bytes, encoding: bytes = b"json/plain") -> RawValue:
    """A payload sent as it is, bypassing the client's converter."""
    return RawValue(Payload(metadata={"encoding": encoding}, data=data))


def deep_json(levels: int) -> bytes:
    """`[[[…]]]` nested `levels` deep: past pydantic's recursion limit of 200 from 201 on."""
    return b"[" * levels + b"]" * levels


async def workflow_task_failures(handle: WorkflowHandle[Any, Any]) -> int:
    """Failed workflow tasks in a run's history (a wedged run keeps adding them)."""
    failed = EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    return len([e async for e in handle.fetch_history_events() if e.event_type == failed])


async def _start_expecting(
    client: Client,
    name: str,
    args: list[Any],
    *,
    workflow_id: str,
    task_queue: str,
    expected: str,
    reuse: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
) -> Probe:
    try:
        handle = await client.start_workflow(
            ORDER_SAGA_WORKFLOW,
            args=args,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=reuse,
            result_type=OrderStatus,
        )
    except RPCError as exc:  # refused by the server itself (e.g. over the size limit)
        got = f"RPCError {exc.status.name}"
        return Probe(name, expected, got, ok=expected == "RPCError")
    try:
        await handle.result()
        got = "completed"
    except WorkflowFailureError as err:
        cause = err.cause
        got = cause.type or "" if isinstance(cause, ApplicationError) else type(cause).__name__
    wedged = await workflow_task_failures(handle) > 0
    return Probe(name, expected, got, ok=got == expected and not wedged, wedged=wedged)


async def _until_awaiting_approval(handle: WorkflowHandle[Any, OrderStatus]) -> None:
    for _ in range(300):
        status = await handle.query(STATUS_QUERY, result_type=OrderStatus)
        if status.state.value == "awaiting_approval":
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{handle.id} never waited for approval")


async def _decision_probes(client: Client, *, task_queue: str, run_id: str) -> list[Probe]:
    """Oversized `approve` updates on a waiting order: under Temporal's 2 MB limit the
    validator refuses them typed; over it the server does (the workflow never fails a task);
    the order is approved afterwards as usual."""
    large = make_order(OrderKind.APPROVED, f"{run_id}-huge-update")
    handle = await client.start_workflow(
        ORDER_SAGA_WORKFLOW, large, id=order_workflow_id(large.order_id),
        task_queue=task_queue, result_type=OrderStatus,
    )  # fmt: skip
    await _until_awaiting_approval(handle)
    got: dict[int, str] = {}
    for size in (1_000_000, OVERSIZED_BYTES):
        try:
            await handle.execute_update(
                APPROVE, {"reviewer": "m", "reason": "x" * size}, result_type=ApprovalResult
            )
            got[size] = "accepted"
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            got[size] = (cause.type or "") if isinstance(cause, ApplicationError) else str(cause)
        except RPCError as exc:
            got[size] = f"RPCError {exc.status.name}"
    await handle.execute_update(APPROVE, {"reviewer": "chaos"}, result_type=ApprovalResult)
    completed = (await handle.result()).state.value == "completed"
    wedged = await workflow_task_failures(handle) > 0
    expected = {1_000_000: "PayloadTooLarge", OVERSIZED_BYTES: "RPCError FAILED_PRECONDITION"}
    return [
        Probe(
            f"approve update of {size // 1000} kB",
            expected[size],
            got[size],
            ok=got[size] == expected[size] and completed and not wedged,
            wedged=wedged,
        )
        for size in expected
    ]


async def probe_hostile_inputs(client: Client, *, task_queue: str, run_id: str) -> list[Probe]:
    """Poison starts, oversized payloads, a closed order's id again, a foreign workflow id."""
    probes: list[Probe] = []
    poison: dict[str, list[Any]] = {
        "no input": [],
        "two inputs": [{"a": 1}, {"b": 2}],
        "JSON 285 levels deep": [raw_payload(deep_json(285))],
        "binary payload": [raw_payload(b"\x00\xff", b"binary/plain")],
        "protobuf payload": [raw_payload(b"\x08\x01", b"json/protobuf")],
        "amount 2^63": [
            {
                **make_order(OrderKind.HAPPY, "x").model_dump(mode="json"),
                "items": [{"sku": "sku-1", "quantity": 1, "unit_price_cents": 2**63}],
            }
        ],
    }
    for name, args in poison.items():
        order_id = f"{run_id}-poison-{uuid.uuid4().hex[:6]}"
        probes.append(
            await _start_expecting(
                client,
                name,
                args,
                workflow_id=order_workflow_id(order_id),
                task_queue=task_queue,
                expected="InvalidOrder",
            )
        )
    big = make_order(OrderKind.HAPPY, f"{run_id}-big").model_dump(mode="json")
    big["customer_id"] = "x" * OVERSIZED_BYTES
    probes.append(
        await _start_expecting(
            client,
            "start payload > 2 MB",
            [big],
            workflow_id=order_workflow_id(big["order_id"]),
            task_queue=task_queue,
            expected="RPCError",
        )
    )

    closed = make_order(OrderKind.HAPPY, f"{run_id}-closed")
    first = await client.start_workflow(
        ORDER_SAGA_WORKFLOW, closed, id=order_workflow_id(closed.order_id),
        task_queue=task_queue, result_type=OrderStatus,
    )  # fmt: skip
    await first.result()
    probes.append(
        await _start_expecting(
            client,
            "closed order id started again",
            [closed],
            workflow_id=order_workflow_id(closed.order_id),
            task_queue=task_queue,
            expected="OrderAlreadyExists",
        )
    )
    probes.append(
        await _start_expecting(
            client,
            "same order under a foreign workflow id",
            [closed],
            workflow_id=f"shop-{closed.order_id}",
            task_queue=task_queue,
            expected="InvalidOrder",
        )
    )

    probes += await _decision_probes(client, task_queue=task_queue, run_id=run_id)
    return probes
