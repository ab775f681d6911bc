"""Webhook signatures: HMAC-SHA256 over `<timestamp>.<raw body>`, Stripe's scheme.

The header is `Rtw-Signature: t=<unix seconds>,v1=<hex digest>`; several `v1` entries are
allowed (secret rotation). A signature is valid when one digest matches and the timestamp
is within the tolerance, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Rtw-Signature"


class SignatureError(Exception):
    """The request is not signed by the carrier (the message says why, never the secret)."""


def sign(secret: bytes, body: bytes, *, timestamp: int | None = None) -> str:
    """The `Rtw-Signature` header value for `body` (what a carrier sends)."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def verify(
    secret: bytes, body: bytes, header: str | None, *, tolerance: int, now: float | None = None
) -> int:
    """Check `header` against `body`; return its timestamp or raise `SignatureError`."""
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    digests: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            digests.append(value)
    if timestamp is None or not digests:
        raise SignatureError(f"malformed {SIGNATURE_HEADER} header: expected t=…,v1=…")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(f"timestamp outside the {tolerance}s window")
    expected = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in digests):
        raise SignatureError("signature does not match")
    return timestamp
