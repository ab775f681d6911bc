"""Webhook signatures: HMAC-SHA256 over `<timestamp>.<raw body>`, Stripe's scheme.

The header is `Rtw-Signature: t=<unix seconds>,v1=<hex digest>`; several `v1` entries are
allowed (secret rotation). A signature is valid when one digest matches and the timestamp
is within the tolerance, so a captured request cannot be replayed later. Anything else in
the header (another scheme, a non-ASCII digit, an oversized number) is malformed: a
`SignatureError`, never another exception.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

SIGNATURE_HEADER = "Rtw-Signature"

#: Unix seconds: ASCII digits only (`str.isdigit` also accepts '²' and other digits that
#: `int()` refuses), at most 12 of them (year 33658), so no huge integer is parsed.
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
#: A hex SHA-256 digest (compared with `hmac.compare_digest`, which refuses non-ASCII text).
_DIGEST = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)
#: Longest header read: a timestamp and a handful of digests (rotation) fit many times over.
MAX_HEADER_LENGTH = 1024


class SignatureError(Exception):
    """The request is not signed by the carrier (the message says why, never the secret)."""


def sign(secret: bytes, body: bytes, *, timestamp: int | None = None) -> str:
    """The `Rtw-Signature` header value for `body` (what a carrier sends)."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def parse(header: str | None) -> tuple[int, list[str]]:
    """The timestamp and the `v1` digests of a header, or `SignatureError`.

    Entries of other schemes (`v0=…`) are ignored, as Stripe's parser does; a `t` or `v1`
    entry that is not well formed makes the whole header malformed.
    """
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    malformed = SignatureError(f"malformed {SIGNATURE_HEADER} header: expected t=…,v1=…")
    if len(header) > MAX_HEADER_LENGTH:
        raise malformed
    timestamp: int | None = None
    digests: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            if timestamp is not None or not _TIMESTAMP.fullmatch(value):
                raise malformed
            timestamp = int(value)
        elif key == "v1":
            if not _DIGEST.fullmatch(value):
                raise malformed
            digests.append(value.lower())
    if timestamp is None or not digests:
        raise malformed
    return timestamp, digests


def verify(
    secret: bytes, body: bytes, header: str | None, *, tolerance: int, now: float | None = None
) -> int:
    """Check `header` against `body`; return its timestamp or raise `SignatureError`."""
    timestamp, digests = parse(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(f"timestamp outside the {tolerance}s window")
    expected = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in digests):
        raise SignatureError("signature does not match")
    return timestamp
