"""Bearer tokens from a mounted file, re-read when the file changes (Secret rotation)."""

from __future__ import annotations

import hmac
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


class TokenFileError(RuntimeError):
    """The tokens file cannot be read or holds no token."""


class TokenStore:
    """The accepted tokens: one per line of a file; blank lines and `#` comments ignored."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp: tuple[int, int] | None = None
        self._tokens: tuple[bytes, ...] = ()
        self._load()

    def _load(self) -> None:
        try:
            stat = self._path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp == self._stamp:
                return
            lines = self._path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise TokenFileError(f"cannot read RTW_GATEWAY_TOKENS_FILE: {exc.strerror}") from exc
        tokens = tuple(
            line.strip().encode() for line in lines if line.strip() and not line.startswith("#")
        )
        if not tokens:
            raise TokenFileError("RTW_GATEWAY_TOKENS_FILE holds no token")
        self._tokens, self._stamp = tokens, stamp

    def accepts(self, token: str | None) -> bool:
        """True when `token` is one of the file's (constant-time per token)."""
        try:
            self._load()
        except TokenFileError as exc:  # keep the last good set while a rotation is half-done
            logger.warning("%s; keeping the tokens read before", exc)
        if not token:
            return False
        candidate = token.encode()
        return any(hmac.compare_digest(candidate, known) for known in self._tokens)
