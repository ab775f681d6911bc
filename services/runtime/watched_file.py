"""A mounted file (a Kubernetes Secret) re-read when it changes, its contents never logged."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: How often at most a file is stat()ed for changes.
DEFAULT_CHECK_SECONDS = 1.0


class WatchedFile(Generic[T]):
    """The parsed contents of a file, refreshed when its inode, size or mtime changes.

    Kubernetes updates a mounted Secret by swapping a symlink; `stat` follows it, so the
    new contents are seen within `check_seconds`. A change that does not parse (a half
    written file) keeps the last good value and logs a warning naming the path only.
    """

    def __init__(
        self,
        path: Path,
        parse: Callable[[bytes], T],
        *,
        check_seconds: float = DEFAULT_CHECK_SECONDS,
    ) -> None:
        """Read and parse `path` now; errors from the first read propagate."""
        self.path = path
        self._parse = parse
        self._check_seconds = check_seconds
        self._signature = self._stat()
        self._value = parse(path.read_bytes())
        self._checked_at = time.monotonic()

    def _stat(self) -> tuple[int, int, int]:
        st = os.stat(self.path)
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def current(self) -> T:
        """The value, re-read first when the file changed since the last check."""
        now = time.monotonic()
        if now - self._checked_at >= self._check_seconds:
            self._checked_at = now
            self.refresh()
        return self._value

    def refresh(self) -> bool:
        """Re-read now if the file changed; True when a new value was loaded."""
        try:
            signature = self._stat()
            if signature == self._signature:
                return False
            value = self._parse(self.path.read_bytes())
        except Exception as exc:
            logger.warning("keeping the previous contents of %s: %s", self.path, _reason(exc))
            return False
        self._signature, self._value = signature, value
        logger.info("reloaded %s", self.path)
        return True


def _reason(exc: Exception) -> str:
    """A reason that cannot quote the file (OS errors and our own messages only)."""
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc) if isinstance(exc, ValueError) else type(exc).__name__
