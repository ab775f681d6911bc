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

from services.contracts import APPROVE, REJECT, OrderState, OrderStatus
from services.gateway.auth import Principal
from services.gateway.context import Gateway, gateway_of
from services.gateway.errors import ApiError, temporal_call
from services.gateway.orders import DONE, ID_PATTERN, decide, fetch_orders
from services.gateway.sessions import SESSION_COOKIE
from services.orchestration.client import order_status

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/inbox", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

#: How many waiting orders one page shows.
INBOX_SIZE = 100
#: Hosts where the inbox runs over plain HTTP in local development (cookies not `Secure`).
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})

GatewayDep = Annotated[Gateway, Depends(gateway_of)]


def _reviewer(request: Request, gateway: Gateway) -> Principal | None:
    """The signed-in principal, when it may decide orders."""
    principal = gateway.sessions.principal(request.cookies.get(SESSION_COOKIE))
    return principal if principal is not None and principal.can_decide else None


def secure_cookie(request: Request) -> bool:
    """`Secure` everywhere but plain-HTTP local development: HTTPS (directly, or behind a
    proxy trusted through RTW_GATEWAY_TRUSTED_PROXIES), or any host other than loopback."""
    return request.url.scheme == "https" or (request.url.hostname or "") not in LOCAL_HOSTS


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
    reviewer: Principal,
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
            "reviewer": reviewer.name,
        },
        status_code=status_code,
    )


@router.get("", response_class=HTMLResponse)
async def inbox(request: Request, gateway: GatewayDep, done: str | None = None) -> Response:
    """The list of orders waiting for approval (or the sign-in form)."""
    reviewer = _reviewer(request, gateway)
    if reviewer is None:
        return templates.TemplateResponse(request, "login.html", {"error": None})
    try:
        async with temporal_call(gateway.settings.request_timeout_seconds):
            rows = await _rows(gateway)
    except ApiError as exc:
        return _page(request, reviewer, [], error=exc.detail, status_code=exc.status)
    return _page(request, reviewer, rows, notice=done)


@router.post("/login")
async def login(
    request: Request, gateway: GatewayDep, token: Annotated[str, Form(max_length=1024)]
) -> Response:
    """Check the token; keep a signed session (never the token) in an HttpOnly,
    SameSite=Strict cookie, `Secure` outside plain local development."""
    issued = gateway.sessions.issue(token)
    if issued is None or not issued[1].can_decide:
        error = (
            "Unknown access token."
            if issued is None
            else f"{issued[1].name} has role {issued[1].role.value}: the inbox needs a "
            "reviewer's token."
        )
        return templates.TemplateResponse(request, "login.html", {"error": error}, status_code=401)
    cookie, principal = issued
    logger.info("inbox sign-in: %s", principal.name)
    response = RedirectResponse("/inbox", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request),
        max_age=int(gateway.sessions.lifetime_seconds),
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Delete the session cookie in this browser (see services/gateway/sessions.py for
    what ends a session everywhere)."""
    response = RedirectResponse("/inbox", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=secure_cookie(request)
    )
    return response


@router.post("/orders/{order_id}/decision")
async def decision_form(
    request: Request,
    order_id: str,
    gateway: GatewayDep,
    decision: Annotated[str, Form(pattern=f"^({APPROVE}|{REJECT})$")],
    reason: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    """Approve or reject as the signed-in reviewer; a refusal (someone else decided first)
    is shown on the page."""
    reviewer = _reviewer(request, gateway)
    if reviewer is None:
        return RedirectResponse("/inbox", status_code=303)
    if not re.match(ID_PATTERN, order_id):
        return _page(request, reviewer, [], error="Invalid order id.", status_code=422)
    try:
        result = await decide(gateway, order_id, decision, reviewer, reason)
    except ApiError as exc:
        try:
            async with temporal_call(gateway.settings.request_timeout_seconds):
                rows = await _rows(gateway)
        except ApiError:
            rows = []
        message = f"Order {order_id} was not {DONE[decision]}: {exc.detail}"
        return _page(request, reviewer, rows, error=message, status_code=exc.status)
    notice = f"Order {order_id} {result.decision.value} by {result.reviewer}."
    return RedirectResponse(f"/inbox?done={quote(notice)}", status_code=303)
