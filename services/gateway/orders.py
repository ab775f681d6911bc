"""The order API: submit (idempotent), status, list, approve/reject, cancel."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from temporalio.api.enums.v1 import WorkflowExecutionStatus as ExecutionStatus
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.converter import decode_search_attributes
from temporalio.service import RPCError, RPCStatusCode

from services.contracts import (
    APPROVE,
    CUSTOMER_ID_ATTRIBUTE,
    ORDER_SAGA_WORKFLOW,
    ORDER_STATE_ATTRIBUTE,
    REJECT,
    ApprovalRequest,
    ApprovalResult,
    OrderInput,
    OrderState,
    OrderStatus,
)
from services.gateway.auth import Principal
from services.gateway.auth_deps import require_reviewer, require_token
from services.gateway.context import Gateway, gateway_of
from services.gateway.errors import ApiError, closed_order_error, may_exist, temporal_call
from services.gateway.models import CancelAccepted, OrderPage, OrderSummary, Problem
from services.orchestration.client import (
    CURRENCY_MEMO,
    FINAL_STATES,
    IDEMPOTENCY_KEY_PATTERN,
    TOTAL_CENTS_MEMO,
    decide_order,
    explain_order,
    owning_run,
    submit_order,
)

ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
OrderId = Annotated[str, Path(pattern=ID_PATTERN, max_length=128, description="the order's id")]
GatewayDep = Annotated[Gateway, Depends(gateway_of)]
ReviewerDep = Annotated[Principal, Depends(require_reviewer)]
#: A decision in the past tense, for sentences.
DONE = {APPROVE: "approved", REJECT: "rejected"}

router = APIRouter(
    prefix="/orders",
    tags=["orders"],
    dependencies=[Depends(require_token)],
    responses={
        400: {"model": Problem, "description": "the body is not JSON text"},
        401: {"model": Problem, "description": "no or unknown bearer token"},
        503: {"model": Problem, "description": "Temporal or the workers cannot answer now"},
    },
)


class Decision(BaseModel):
    """An approve/reject decision: why. Who decides is the token's principal."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=4096)

    @model_validator(mode="before")
    @classmethod
    def _no_reviewer(cls, data: Any) -> Any:
        if isinstance(data, dict) and "reviewer" in data:
            raise ValueError(
                "reviewer is not taken from the body: the decision is recorded under the name "
                "of the token's principal (RTW_GATEWAY_TOKENS_FILE)"
            )
        return data


def _timeout(gateway: Gateway) -> float:
    return gateway.settings.request_timeout_seconds


@router.post(
    "",
    status_code=201,
    response_model=OrderStatus,
    summary="Submit an order (starts its saga once)",
    responses={
        200: {"model": OrderStatus, "description": "this order exists already; its status"},
        409: {
            "model": Problem,
            "description": "this order id exists with a different body, or this "
            "Idempotency-Key already started another order",
        },
        503: {
            "model": Problem,
            "description": "Temporal or the workers did not answer: the order may exist; "
            "retry with the same Idempotency-Key and body",
        },
    },
)
async def create_order(
    order: OrderInput,
    response: Response,
    gateway: GatewayDep,
    idempotency_key: Annotated[
        str,
        Header(
            min_length=1,
            max_length=255,
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="unique per order; a retry with the same key and body is answered 200,"
            " the same key for another order id 409",
        ),
    ],
) -> OrderStatus:
    """Start the order's saga and return its validated status at once (not its outcome).

    The same body again (with the same key) returns the existing order with `200`; a
    different body under an existing order id is `409`, and so is a key that already started
    another order id. A `503` means the order may or may not exist: retry with the same key
    and body.
    """
    timeout = _timeout(gateway)
    try:
        async with temporal_call(timeout, order_id=order.order_id):
            submitted = await submit_order(
                gateway.client,
                order,
                task_queue=gateway.orchestration_queue,
                timeout=timedelta(seconds=timeout),
                idempotency_key=idempotency_key,
                key_attribute=gateway.key_attribute,
            )
    except ApiError as exc:
        if exc.status >= 500:
            raise may_exist(exc, order.order_id) from None
        raise
    if not submitted.created:
        response.status_code = 200
    return submitted.status


@router.get(
    "",
    response_model=OrderPage,
    summary="List orders by state and customer (Temporal visibility)",
    responses={
        422: {
            "description": "a bad filter or page token, or `customer` while payloads are encrypted"
        }
    },
)
async def list_orders(
    gateway: GatewayDep,
    state: Annotated[OrderState | None, Query(description="e.g. awaiting_approval")] = None,
    customer: Annotated[
        str | None, Query(pattern=ID_PATTERN, max_length=128, description="customer id")
    ] = None,
    page_size: Annotated[int | None, Query(gt=0, le=1000)] = None,
    page: Annotated[str | None, Query(max_length=4096, description="next_page of before")] = None,
) -> OrderPage:
    """Orders of this deployment, newest first, filtered by `RtwOrderState`/`RtwCustomerId`.

    Visibility is eventually consistent: an order shows up, or changes state, within
    about a second of the change.
    """
    token = _decode_page(page)
    if customer is not None and not gateway.customer_filter:
        raise ApiError(
            422,
            "CustomerFilterOff",
            "listing by customer is off while payloads are encrypted: customer ids are "
            "personal data and search attributes are stored unencrypted",
        )
    async with temporal_call(_timeout(gateway)):
        return await fetch_orders(
            gateway.client,
            task_queue=gateway.orchestration_queue,
            state=state,
            customer=customer,
            page_size=page_size or gateway.settings.page_size,
            page_token=token,
        )


@router.get(
    "/{order_id}",
    response_model=OrderStatus,
    summary="The order's status (the saga's `status` query)",
    responses={
        404: {"model": Problem, "description": "no such order"},
        409: {"model": Problem, "description": "the order ended before it had a status"},
    },
)
async def get_order(order_id: OrderId, gateway: GatewayDep) -> OrderStatus:
    """The order's status: the run that owns the order speaks for it; a running order
    answers its `status` query (an orchestration worker), a closed one reports its real end
    from its history (`failed` or `cancelled` for a run cut short, never the step it was in)."""
    timeout = _timeout(gateway)
    async with temporal_call(timeout, order_id=order_id):
        found = await explain_order(
            gateway.client, order_id, rpc_timeout=timedelta(seconds=timeout)
        )
    if isinstance(found, OrderStatus):
        return found
    what = f"{found.error.type}: {found.error.message}" if found.error else "no status"
    raise ApiError(409, "NoStatus", f"order {order_id} ended before it had a status: {what}")


async def decide(
    gateway: Gateway, order_id: str, decision: str, principal: Principal, reason: str
) -> ApprovalResult:
    """Approve or reject as `principal`; an order that has ended is `409 OrderClosed`."""
    request = ApprovalRequest(reviewer=principal.name, reason=reason)
    async with temporal_call(_timeout(gateway), order_id=order_id):
        try:
            return await decide_order(gateway.client, order_id, decision, request)
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
            # NOT_FOUND is also the answer for an update to a closed workflow
            _, description = await owning_run(gateway.client, order_id)
            if description.status is WorkflowExecutionStatus.RUNNING:
                raise
            raise closed_order_error(order_id, description, action=DONE[decision]) from None


_DECISION_RESPONSES: dict[int | str, dict[str, object]] = {
    403: {"model": Problem, "description": "the token's role may not decide orders"},
    404: {"model": Problem, "description": "no such order"},
    409: {
        "model": Problem,
        "description": "refused: already decided, expired, no approval, or the order has "
        "ended (OrderClosed, with how it ended)",
    },
}


@router.post(
    "/{order_id}/approve",
    response_model=ApprovalResult,
    summary="Approve a large order (the `approve` update)",
    responses=_DECISION_RESPONSES,
)
async def approve_order(
    order_id: OrderId, body: Decision, gateway: GatewayDep, principal: ReviewerDep
) -> ApprovalResult:
    """Approve as the token's principal; the saga goes on to capture. Refusals come back as
    `409` with the reason."""
    return await decide(gateway, order_id, APPROVE, principal, body.reason)


@router.post(
    "/{order_id}/reject",
    response_model=ApprovalResult,
    summary="Reject a large order (the `reject` update)",
    responses=_DECISION_RESPONSES,
)
async def reject_order(
    order_id: OrderId, body: Decision, gateway: GatewayDep, principal: ReviewerDep
) -> ApprovalResult:
    """Reject as the token's principal; the saga compensates and ends `rejected`."""
    return await decide(gateway, order_id, REJECT, principal, body.reason)


@router.post(
    "/{order_id}/cancel",
    status_code=202,
    response_model=CancelAccepted,
    summary="Cancel an order (its saga compensates)",
    responses={
        404: {"model": Problem, "description": "no such order"},
        409: {"model": Problem, "description": "the order has ended already"},
    },
)
async def cancel(order_id: OrderId, gateway: GatewayDep) -> CancelAccepted:
    """Request cancellation: the saga undoes what it did (refund, void, release stock),
    tells the customer and ends `cancelled`."""
    async with temporal_call(_timeout(gateway), order_id=order_id):
        handle, description = await owning_run(gateway.client, order_id)
        if description.status is not WorkflowExecutionStatus.RUNNING:
            raise closed_order_error(order_id, description, action="cancelled")
        await handle.cancel()
    return CancelAccepted(order_id=order_id, workflow_id=handle.id)


#: How a run that closed before publishing a final state really ended.
CUT_SHORT: dict[ExecutionStatus.ValueType, OrderState] = {
    ExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED: OrderState.FAILED,
    ExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED: OrderState.FAILED,
    ExecutionStatus.WORKFLOW_EXECUTION_STATUS_TIMED_OUT: OrderState.FAILED,
    ExecutionStatus.WORKFLOW_EXECUTION_STATUS_CANCELED: OrderState.CANCELLED,
}


def _decode_page(page: str | None) -> bytes | None:
    if not page:
        return None
    try:
        return base64.urlsafe_b64decode(page.encode())
    except (binascii.Error, ValueError):
        raise ApiError(422, "InvalidPage", "page is not a next_page value") from None


def order_query(*, task_queue: str, state: OrderState | None, customer: str | None) -> str:
    """The visibility query for orders of one deployment (values are validated ids).

    Only runs that published a state are orders: a run the claim refused (an order id
    started again) or an input refused before validation never does, so it is not listed
    beside the run that owns the order. A waiting state lists running orders only (a run
    closed while waiting keeps the attribute it had)."""
    clauses = [f"WorkflowType = '{ORDER_SAGA_WORKFLOW}'", f"TaskQueue = '{task_queue}'"]
    if state is None:
        clauses.append(f"{ORDER_STATE_ATTRIBUTE} IS NOT NULL")
    else:
        clauses.append(f"{ORDER_STATE_ATTRIBUTE} = '{state.value}'")
        if state not in FINAL_STATES:
            clauses.append("ExecutionStatus = 'Running'")
    if customer is not None:
        clauses.append(f"{CUSTOMER_ID_ATTRIBUTE} = '{customer}'")
    return " AND ".join(clauses)


async def fetch_orders(
    client: Client,
    *,
    task_queue: str,
    state: OrderState | None,
    customer: str | None,
    page_size: int,
    page_token: bytes | None,
) -> OrderPage:
    """One page of orders from visibility (search attributes and memo; no worker asked).

    Called without the SDK's retries: a forged page token makes the server answer an
    error that would otherwise be retried until the deadline.
    """
    try:
        response = await client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(
                namespace=client.namespace,
                page_size=page_size,
                next_page_token=page_token or b"",
                query=order_query(task_queue=task_queue, state=state, customer=customer),
            ),
            retry=False,
        )
    except RPCError as exc:
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise
        if page_token:
            raise ApiError(422, "InvalidPage", "page is not a next_page value") from None
        if exc.status is RPCStatusCode.INVALID_ARGUMENT:
            raise ApiError(
                503,
                "SearchAttributesMissing",
                f"cannot list orders: {exc.message} (register RtwOrderState and RtwCustomerId "
                "as Keyword search attributes)",
            ) from None
        raise
    orders = [await _summary(client, info) for info in response.executions]
    token = response.next_page_token
    return OrderPage(
        orders=orders,
        next_page=base64.urlsafe_b64encode(token).decode() if token else None,
    )


async def _summary(client: Client, info: WorkflowExecutionInfo) -> OrderSummary:
    """An order's row from its visibility record (memo decoded with the client's codec)."""
    attributes = decode_search_attributes(info.search_attributes)
    memo: dict[str, Any] = {}
    for key, payload in info.memo.fields.items():
        if key in (TOTAL_CENTS_MEMO, CURRENCY_MEMO):
            memo[key] = (await client.data_converter.decode([payload]))[0]
    total, currency = memo.get(TOTAL_CENTS_MEMO), memo.get(CURRENCY_MEMO)
    state_values = attributes.get(ORDER_STATE_ATTRIBUTE) or [None]
    state = str(state_values[0]) if state_values[0] is not None else None
    if info.status in CUT_SHORT and state not in FINAL_STATES:
        state = CUT_SHORT[info.status].value  # closed mid-step: its real end, not the step
    customer_values = attributes.get(CUSTOMER_ID_ATTRIBUTE) or [None]
    workflow_id = info.execution.workflow_id
    return OrderSummary(
        order_id=workflow_id.removeprefix("order-"),
        workflow_id=workflow_id,
        state=state,
        customer_id=str(customer_values[0]) if customer_values[0] is not None else None,
        started_at=info.start_time.ToDatetime(tzinfo=UTC) if info.HasField("start_time") else None,
        closed_at=info.close_time.ToDatetime(tzinfo=UTC) if info.HasField("close_time") else None,
        total_cents=total if isinstance(total, int) else None,
        currency=currency if isinstance(currency, str) else None,
    )
