"""Who may use the codec server: a static bearer token, or the Web UI's forwarded OIDC token."""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import dataclass

import jwt

from services.runtime.watched_file import WatchedFile

logger = logging.getLogger(__name__)

#: Signature algorithms accepted from an identity provider (never `none` or HMAC).
JWT_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


def parse_tokens(raw: bytes) -> frozenset[str]:
    """Accepted tokens: one per line, blank lines ignored (two during a token rotation)."""
    tokens = frozenset(line.strip() for line in raw.decode("utf-8").splitlines() if line.strip())
    if not tokens:
        raise ValueError("the token file holds no token")
    return tokens


@dataclass(frozen=True)
class JwtPolicy:
    """Access tokens signed by an identity provider's keys (JWKS), for one audience."""

    jwks: jwt.PyJWKClient
    audience: str
    issuer: str | None = None

    def verify(self, token: str) -> bool:
        """True when the token is signed by a key of the JWKS, unexpired, for the audience."""
        try:
            key = self.jwks.get_signing_key_from_jwt(token)
            jwt.decode(
                token,
                key.key,
                algorithms=JWT_ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "aud"]},
            )
        except jwt.PyJWTError as exc:
            logger.info("refused an access token: %s", type(exc).__name__)
            return False
        return True


@dataclass(frozen=True)
class Authenticator:
    """Checks the `Authorization: Bearer …` header of a request."""

    tokens: WatchedFile[frozenset[str]] | None = None
    jwt_policy: JwtPolicy | None = None

    async def allows(self, header: str | None) -> bool:
        """True for a known static token or a valid forwarded access token."""
        if not header or not header.startswith("Bearer "):
            return False
        offered = header.removeprefix("Bearer ").strip()
        if not offered:
            return False
        if self.tokens is not None:
            known = self.tokens.current()
            # every token compared, each in constant time
            if any([hmac.compare_digest(offered.encode(), t.encode()) for t in known]):
                return True
        if self.jwt_policy is not None and offered.count(".") == 2:
            return await asyncio.to_thread(self.jwt_policy.verify, offered)
        return False
