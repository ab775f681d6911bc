"""Inbox sessions: a signed cookie naming the principal, never the bearer token.

The gateway keeps no state (several replicas answer one browser), so a session is a value
signed with HMAC-SHA256: `v1.<payload>.<signature>`, the payload holding the principal's
name, an expiry and a tie to its token (an HMAC of the token under the session key, from
which the token cannot be recovered). A session is accepted only while

- its signature verifies under the current session key,
- it has not expired (`RTW_GATEWAY_SESSION_HOURS`), and
- a token in the tokens file still gives the tie, under the same name.

So removing a token from the file ends its sessions on every replica within a second, and
changing the session key (`RTW_GATEWAY_SESSION_KEY_FILE`) ends all sessions. Sign-out
deletes the cookie in that browser; a copy of the cookie taken before stays valid until it
expires or one of those two happens (there is no server-side session list to strike it
from). Without a session key file the key is derived from the tokens file (every change to
that file then signs everyone out).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from pathlib import Path

from services.gateway.auth import Principal, TokenStore
from services.runtime.watched_file import WatchedFile

#: Name of the cookie (HttpOnly, SameSite=Strict, Secure outside plain local development).
SESSION_COOKIE = "rtw_session"
_VERSION = "v1"
_DERIVED_LABEL = b"rtw-gateway-session-key-v1"
_TIE_LABEL = b"rtw-gateway-session-token\x00"
#: Longest cookie value looked at (a real one is about 150 characters).
MAX_COOKIE_LENGTH = 1024


class SessionKeyError(RuntimeError):
    """The session key file is unreadable or too short."""


def _session_key(raw: bytes) -> bytes:
    key = raw.strip()
    if len(key) < 32:
        raise SessionKeyError("RTW_GATEWAY_SESSION_KEY_FILE must hold at least 32 bytes")
    return key


def _tie(key: bytes, token: bytes) -> bytes:
    """What ties a session to its token without revealing it."""
    return hmac.new(key, _TIE_LABEL + token, hashlib.sha256).digest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    """Issues and checks session cookies for the principals of a `TokenStore`."""

    def __init__(
        self, tokens: TokenStore, *, key_file: Path | None = None, lifetime_seconds: float
    ) -> None:
        """Reads `key_file` now (errors propagate as `SessionKeyError`)."""
        self._tokens = tokens
        self.lifetime_seconds = lifetime_seconds
        self._key_file: WatchedFile[bytes] | None = None
        if key_file is not None:
            try:
                self._key_file = WatchedFile(key_file, _session_key)
            except OSError as exc:
                raise SessionKeyError(
                    f"cannot read RTW_GATEWAY_SESSION_KEY_FILE: {exc.strerror}"
                ) from exc

    def _key(self) -> bytes:
        if self._key_file is not None:
            return self._key_file.current()
        return self._tokens.derived_key(_DERIVED_LABEL)

    def issue(self, token: str, *, now: float | None = None) -> tuple[str, Principal] | None:
        """A cookie value for the principal of `token`, or None for an unknown token."""
        principal = self._tokens.principal(token)
        if principal is None:
            return None
        key = self._key()
        expires = int((time.time() if now is None else now) + self.lifetime_seconds)
        tie = _tie(key, token.encode())
        payload = _b64(
            json.dumps(
                {"n": principal.name, "t": _b64(tie), "e": expires}, separators=(",", ":")
            ).encode()
        )
        signed = f"{_VERSION}.{payload}"
        signature = _b64(hmac.new(key, signed.encode(), hashlib.sha256).digest())
        return f"{signed}.{signature}", principal

    def principal(self, cookie: str | None, *, now: float | None = None) -> Principal | None:
        """The principal of a session cookie, or None when it is not a valid session now."""
        if not cookie or len(cookie) > MAX_COOKIE_LENGTH or not cookie.isascii():
            return None
        version, _, rest = cookie.partition(".")
        payload, _, signature = rest.partition(".")
        if version != _VERSION or not payload or not signature:
            return None
        key = self._key()
        expected = hmac.new(key, f"{version}.{payload}".encode(), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(expected, _unb64(signature)):
                return None
            claims = json.loads(_unb64(payload))
            name, tie, expires = str(claims["n"]), _unb64(str(claims["t"])), int(claims["e"])
        except (binascii.Error, ValueError, KeyError, TypeError):
            return None
        if expires <= (time.time() if now is None else now):
            return None
        principal = self._tokens.bound_principal(tie, lambda token: _tie(key, token))
        if principal is None or principal.name != name:
            return None
        return principal
