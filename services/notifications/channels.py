"""Notification channels: the port, and the default JSON-lines outbox with dedupe."""

from __future__ import annotations

import asyncio
import fcntl
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TextIO

from services.contracts import NotificationRequest


class Channel(Protocol):
    """Delivers a notification; returns False when `dedupe_key` was delivered before."""

    name: str

    async def deliver(self, message: NotificationRequest) -> bool: ...


class OutboxChannel:
    """Appends each message once to a JSON-lines file that a relay (or a person) reads.

    Safe across worker processes on one host: the read-check-append runs under an
    exclusive `flock`, and the keys already in the file are read incrementally.
    """

    name = "outbox"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
        self._path = path
        self._seen: set[str] = set()
        self._offset = 0
        self._lock = asyncio.Lock()

    def _catch_up(self, fh: TextIO) -> bool:
        """Read keys appended since the last look (by us or another process).

        Returns False when the file ends in a torn line (a writer died mid-write).
        """
        fh.seek(self._offset)
        while line := fh.readline():
            if not line.endswith("\n"):
                return False
            self._offset += len(line.encode())
            try:
                self._seen.add(json.loads(line)["dedupe_key"])
            except (ValueError, KeyError, TypeError):
                continue  # a torn fragment terminated by a later writer
        return True

    def _deliver(self, message: NotificationRequest) -> bool:
        with self._path.open("a+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                clean_end = self._catch_up(fh)
                if message.dedupe_key in self._seen:
                    return False
                record = {
                    **message.model_dump(mode="json"),
                    "delivered_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                }
                fh.write(("" if clean_end else "\n") + json.dumps(record, sort_keys=True) + "\n")
                fh.flush()
                self._catch_up(fh)
                return True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    async def deliver(self, message: NotificationRequest) -> bool:
        async with self._lock:
            return await asyncio.to_thread(self._deliver, message)

    def delivered(self) -> list[dict[str, object]]:
        """Every message in the outbox, oldest first (torn fragments skipped)."""
        messages = []
        with self._path.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    messages.append(json.loads(line))
                except ValueError:
                    continue
        return messages
