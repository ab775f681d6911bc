"""FastAPI dependencies for bearer-token auth (header for the API, cookie for the inbox)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.gateway.context import gateway_of
from services.gateway.errors import ApiError

#: Cookie the inbox keeps the reviewer's token in (HttpOnly, SameSite=Strict).
SESSION_COOKIE = "rtw_session"

bearer = HTTPBearer(auto_error=False, description="a token from RTW_GATEWAY_TOKENS_FILE")


def token_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The presented token: the Authorization header, else the inbox's session cookie."""
    if credentials is not None and credentials.scheme.lower() == "bearer":
        return credentials.credentials
    return request.cookies.get(SESSION_COOKIE)


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """Refuse the request with 401 unless it carries a known token."""
    if not gateway_of(request).tokens.accepts(token_of(request, credentials)):
        raise ApiError(401, "Unauthorized", "a valid bearer token is required")
