"""FastAPI dependencies for auth: the bearer token (API), or the inbox's session cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.gateway.auth import Principal
from services.gateway.context import gateway_of
from services.gateway.errors import ApiError
from services.gateway.sessions import SESSION_COOKIE

bearer = HTTPBearer(auto_error=False, description="a token from RTW_GATEWAY_TOKENS_FILE")


def principal_of(
    request: Request, credentials: HTTPAuthorizationCredentials | None = None
) -> Principal | None:
    """Who calls: the Authorization header's token, else the inbox's session cookie."""
    gateway = gateway_of(request)
    if credentials is not None and credentials.scheme.lower() == "bearer":
        return gateway.tokens.principal(credentials.credentials)
    return gateway.sessions.principal(request.cookies.get(SESSION_COOKIE))


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller, or 401 unless the request carries a known token or a valid session."""
    principal = principal_of(request, credentials)
    if principal is None:
        raise ApiError(401, "Unauthorized", "a valid bearer token is required")
    return principal


async def require_reviewer(principal: Annotated[Principal, Depends(require_token)]) -> Principal:
    """The caller when it may approve and reject orders, else 403."""
    if not principal.can_decide:
        raise ApiError(
            403,
            "Forbidden",
            f"{principal.name} has role {principal.role.value}: deciding orders needs a "
            "reviewer's token",
        )
    return principal
