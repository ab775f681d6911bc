"""The approvals inbox: a server-rendered page listing orders that wait for a decision."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.contracts import APPROVE, REJECT, ApprovalRequest, OrderState, OrderStatus
from services.gateway.auth_deps import SESSION_COOKIE
from services.gateway.context import Gateway, gateway_of
from services.gateway.errors import ApiError, temporal_call
from services.gateway.orders import ID_PATTERN, fetch_orders
from services.orchestration.client import decide_order, order_status

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/inbox", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

#: Remembers the reviewer's name between decisions (not a secret).
REVIEWER_COOKIE = "rtw_reviewer"
#: How many waiting orders one page shows.
INBOX_SIZE = 100

GatewayDep = Annotated[Gateway, Depends(gateway_of)]


def _signed_in(request: Request, gateway: Gateway) -> bool:
    return gateway.tokens.accepts(request.cookies.get(SESSION_COOKIE))


def _age(started: datetime | None, now: datetime) -> str:
    if started is None:
        return "unknown"
    minutes = int((now - started).total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours < 48 else f"{hours // 24} days"


async def _rows(gateway: Gateway) -> list[dict[str, Any]]:
    """Waiting orders with amount, age and deadline (deadline from each saga's status)."""
    timeout = gateway.settings.request_timeout_seconds
    page = await fetch_orders(
        gateway.client,
        task_queue=gateway.orchestration_queue,
        state=OrderState.AWAITING_APPROVAL,
        customer=None,
        page_size=INBOX_SIZE,
        page_token=None,
    )

    async def status(order_id: str) -> OrderStatus | None:
        try:
            return await order_status(
                gateway.client, order_id, rpc_timeout=timedelta(seconds=timeout)
            )
        except Exception as exc:  # a row without a deadline beats no page at all
            logger.warning("no status for %s in the inbox: %s", order_id, exc)
            return None

    statuses = await asyncio.gather(*(status(o.order_id) for o in page.orders))
    now = datetime.now(UTC)
    rows = []
    for summary, found in zip(page.orders, statuses, strict=True):
        if found is not None and found.state is not OrderState.AWAITING_APPROVAL:
            continue  # decided since visibility last saw it
        total = found.total_cents if found else summary.total_cents
        currency = found.currency if found else summary.currency
        deadline = found.approval.deadline if found and found.approval else None
        rows.append(
            {
                "order_id": summary.order_id,
                "customer_id": summary.customer_id,
                "amount": f"{total / 100:,.2f} {currency}" if total is not None else None,
                "age": _age(summary.started_at, now),
                "deadline": deadline.strftime("%Y-%m-%d %H:%M") if deadline else None,
            }
        )
    return rows


def _page(
    request: Request,
    gateway: Gateway,
    rows: list[dict[str, Any]],
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "inbox.html",
        {
            "orders": rows,
            "notice": notice,
            "error": error,
            "reviewer": request.cookies.get(REVIEWER_COOKIE, ""),
        },
        status_code=status_code,
    )


@router.get("", response_class=HTMLResponse)
async def inbox(request: Request, gateway: GatewayDep, done: str | None = None) -> Response:
    """The list of orders waiting for approval (or the sign-in form)."""
    if not _signed_in(request, gateway):
        return templates.TemplateResponse(request, "login.html", {"error": None})
    try:
        async with temporal_call(gateway.settings.request_timeout_seconds):
            rows = await _rows(gateway)
    except ApiError as exc:
        return _page(request, gateway, [], error=exc.detail, status_code=exc.status)
    return _page(request, gateway, rows, notice=done)


@router.post("/login")
async def login(request: Request, gateway: GatewayDep, token: Annotated[str, Form()]) -> Response:
    """Check the token; keep it in an HttpOnly, SameSite=Strict cookie."""
    if not gateway.tokens.accepts(token):
        return templates.TemplateResponse(
            request, "login.html", {"error": "Unknown access token."}, status_code=401
        )
    response = RedirectResponse("/inbox", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=12 * 3600,
    )
    return response


@router.post("/logout")
async def logout() -> Response:
    """Forget the session."""
    response = RedirectResponse("/inbox", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/orders/{order_id}/decision")
async def decide(
    request: Request,
    order_id: str,
    gateway: GatewayDep,
    decision: Annotated[str, Form(pattern=f"^({APPROVE}|{REJECT})$")],
    reviewer: Annotated[str, Form(min_length=1, max_length=256)],
    reason: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    """Approve or reject; a refusal (someone else decided first) is shown on the page."""
    if not _signed_in(request, gateway):
        return RedirectResponse("/inbox", status_code=303)
    if not re.match(ID_PATTERN, order_id) or not reviewer.strip():
        return _page(request, gateway, [], error="Invalid order or reviewer.", status_code=422)
    try:
        async with temporal_call(gateway.settings.request_timeout_seconds, order_id=order_id):
            result = await decide_order(
                gateway.client,
                order_id,
                decision,
                ApprovalRequest(reviewer=reviewer.strip(), reason=reason),
            )
    except ApiError as exc:
        try:
            async with temporal_call(gateway.settings.request_timeout_seconds):
                rows = await _rows(gateway)
        except ApiError:
            rows = []
        message = f"Order {order_id} was not {decision}d: {exc.detail}"
        return _page(request, gateway, rows, error=message, status_code=exc.status)
    notice = f"Order {order_id} {result.decision.value} by {result.reviewer}."
    response = RedirectResponse(f"/inbox?done={quote(notice)}", status_code=303)
    response.set_cookie(
        REVIEWER_COOKIE, reviewer.strip(), httponly=True, samesite="strict", max_age=30 * 86400
    )
    return response
