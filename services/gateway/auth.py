"""Who calls: bearer tokens from a mounted file, each naming a principal and its role.

One entry per line, `<token> <name> <role>`: `s3cr3t-… alice reviewer`. A `reviewer`
may do everything, approving and rejecting included (the decision is recorded under the
name); a `service` (a shop's backend) submits, reads, lists and cancels orders. A line
holding only a token (the format before names) still works, as a reviewer named
`token-<first 8 hex of its sha256>`, with a warning. The file is re-read when it
changes (Secret rotation).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

logger = logging.getLogger(__name__)

#: A principal's name: it is recorded as the reviewer of a decision and shown in the inbox.
NAME_PATTERN = re.compile(r"[A-Za-z0-9._@-]{1,64}", re.ASCII)
FORMAT = "'<token> <name> <role>' (role reviewer or service), e.g. 's3cr3t-… alice reviewer'"


class TokenFileError(RuntimeError):
    """The tokens file cannot be read, holds no token, or has a line in no known format."""


class Role(StrEnum):
    """What a principal may do."""

    #: Everything, approving and rejecting included.
    REVIEWER = "reviewer"
    #: The order API without decisions: submit, read, list, cancel.
    SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    name: str
    role: Role

    @property
    def can_decide(self) -> bool:
        """May approve or reject orders."""
        return self.role is Role.REVIEWER


@dataclass(frozen=True)
class _Entry:
    token: bytes
    principal: Principal


def parse_tokens(text: str) -> tuple[list[_Entry], int]:
    """The entries of a tokens file, and how many lines are in the old token-only format."""
    entries: list[_Entry] = []
    legacy = 0
    seen: set[bytes] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        where = f"RTW_GATEWAY_TOKENS_FILE line {number}"
        if len(fields) == 1:
            token = fields[0]
            name = f"token-{hashlib.sha256(token.encode()).hexdigest()[:8]}"
            principal = Principal(name, Role.REVIEWER)
            legacy += 1
        elif len(fields) == 3:
            token, name, role = fields
            if not NAME_PATTERN.fullmatch(name):
                raise TokenFileError(
                    f"{where}: the name must be 1-64 letters, digits or ._@- ; expected {FORMAT}"
                )
            if role not in {r.value for r in Role}:
                raise TokenFileError(f"{where}: unknown role; expected {FORMAT}")
            principal = Principal(name, Role(role))
        else:
            raise TokenFileError(f"{where}: {len(fields)} fields; expected {FORMAT}")
        if token.encode() in seen:
            raise TokenFileError(f"{where}: the same token is listed twice")
        seen.add(token.encode())
        entries.append(_Entry(token.encode(), principal))
    if not entries:
        raise TokenFileError("RTW_GATEWAY_TOKENS_FILE holds no token")
    return entries, legacy


class TokenStore:
    """The accepted tokens and their principals, re-read when the file changes."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp: tuple[int, int, int] | None = None
        self._entries: tuple[_Entry, ...] = ()
        self._load()

    def _load(self) -> None:
        try:
            stat = self._path.stat()
            stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if stamp == self._stamp:
                return
            text = self._path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TokenFileError(f"cannot read RTW_GATEWAY_TOKENS_FILE: {exc.strerror}") from exc
        except UnicodeDecodeError:
            raise TokenFileError("RTW_GATEWAY_TOKENS_FILE is not UTF-8 text") from None
        entries, legacy = parse_tokens(text)
        if legacy:
            logger.warning(
                "RTW_GATEWAY_TOKENS_FILE: %d token(s) without a name and role, accepted as "
                "reviewers named token-<hash>; write each line as %s",
                legacy,
                FORMAT,
            )
        self._entries, self._stamp = tuple(entries), stamp

    def _current(self) -> tuple[_Entry, ...]:
        try:
            self._load()
        except TokenFileError as exc:  # keep the last good set while a rotation is half-done
            logger.warning("%s; keeping the tokens read before", exc)
        return self._entries

    def principal(self, token: str | None) -> Principal | None:
        """The principal of `token`, or None (constant-time comparison per token)."""
        if not token:
            return None
        candidate = token.encode()
        found = None
        for entry in self._current():
            if hmac.compare_digest(candidate, entry.token):
                found = entry.principal
        return found

    def accepts(self, token: str | None) -> bool:
        """True when `token` is one of the file's."""
        return self.principal(token) is not None

    def bound_principal(self, binding: bytes, bind: Callable[[bytes], bytes]) -> Principal | None:
        """The principal whose token gives `binding` under `bind` (a session's token tie),
        or None once that token is gone from the file."""
        found = None
        for entry in self._current():
            if hmac.compare_digest(bind(entry.token), binding):
                found = entry.principal
        return found

    def derived_key(self, label: bytes) -> bytes:
        """A key derived from all current tokens (it changes whenever one does)."""
        material = b"\n".join(sorted(entry.token for entry in self._current()))
        return hmac.new(label, material, hashlib.sha256).digest()
