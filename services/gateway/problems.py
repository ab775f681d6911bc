"""One error shape for every 4xx and 5xx: `{"type", "detail"}` (plus `errors` on a 422).

FastAPI's own answers (validation errors, unknown paths, unexpected exceptions) are turned
into that shape here; none repeats what the request sent, so nothing a client posted (a
card number in a wrong field, markup) comes back in an error or lands in a cache.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.gateway.errors import ApiError
from services.gateway.models import FieldError

logger = logging.getLogger(__name__)

#: How many invalid fields the one-line `detail` names (`errors` lists them all).
DETAIL_FIELDS = 5
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def problem(
    status: int,
    kind: str,
    detail: str,
    *,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A JSON error answer in the documented shape."""
    body: dict[str, Any] = {"type": kind, "detail": detail}
    if errors is not None:
        body["errors"] = [error.model_dump() for error in errors]
    return JSONResponse(body, status_code=status, headers=headers)


def _kind_of(status: int) -> str:
    """`NotFound`, `MethodNotAllowed`, …: the status phrase as one word."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return "HTTPError"
    return "".join(word.capitalize() for word in phrase.replace("-", " ").split())


def _scrubbed(message: str, value: object) -> str:
    """`message` without the value it complains about (a custom validator may quote it)."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = str(value)
        if text.strip():
            message = message.replace(repr(value), "the value sent").replace(text, "the value sent")
    return message


def field_errors(
    errors: Iterable[Mapping[str, Any]], *, prefix: tuple[str, ...] = ()
) -> list[FieldError]:
    """pydantic's errors as paths and messages, without the input (its values, and the
    names of fields a client made up)."""
    found = []
    for error in errors:
        loc: list[str | int] = [*prefix, *error.get("loc", ())]
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "extra_forbidden":
            loc, message = loc[:-1], "has a field that is not allowed here"
        found.append(FieldError(loc=loc, msg=_scrubbed(message, error.get("input"))))
    return found


def validation_detail(errors: list[FieldError]) -> str:
    """One sentence naming the first few invalid fields."""
    named = [f"{'.'.join(str(p) for p in e.loc) or 'request'}: {e.msg}" for e in errors]
    more = len(named) - DETAIL_FIELDS
    text = "; ".join(named[:DETAIL_FIELDS]) + (f"; and {more} more" if more > 0 else "")
    return f"invalid request: {text}"


def install(app: FastAPI) -> None:
    """Register the handlers that give every error answer the documented shape."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem(exc.status, exc.kind, exc.detail, errors=exc.errors, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(exc.errors())
        return problem(422, "InvalidRequest", validation_detail(errors), errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = str(exc.detail) if exc.detail else HTTPStatus(exc.status_code).phrase
        return problem(
            exc.status_code,
            _kind_of(exc.status_code),
            detail,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Only for a failure outside the request's middleware (which answers 500 itself,
        # with the request id); Starlette's ServerErrorMiddleware logs the traceback.
        return problem(500, "InternalError", "the gateway failed to answer this request")


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with `Problem` as the body of every 422 (FastAPI documents its
    own validation shape there) and a 413 on every operation that takes a body."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"]["content"] = {"application/json": {"schema": PROBLEM_REF}}
                responses["422"].setdefault("description", "invalid request")
                if responses["422"]["description"] == "Validation Error":
                    responses["422"]["description"] = "invalid request (the fields in errors)"
            if "requestBody" in operation:
                responses.setdefault(
                    "413",
                    {
                        "description": "request body too large",
                        "content": {"application/json": {"schema": PROBLEM_REF}},
                    },
                )
    schemas = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return schema
