"""Credentials read from mounted files, and kept current while a process runs."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from temporalio.client import Client

from services.runtime.watched_file import WatchedFile

logger = logging.getLogger(__name__)

#: How often a running worker looks for a changed TEMPORAL_API_KEY_FILE.
API_KEY_CHECK_SECONDS = 5.0


def parse_api_key(raw: bytes) -> str:
    """The key in an API key file (surrounding whitespace dropped); empty is an error."""
    key = raw.decode("utf-8").strip()
    if not key:
        raise ValueError("the API key file is empty")
    return key


async def refresh_api_key(
    client: Client, path: Path, *, check_seconds: float = API_KEY_CHECK_SECONDS
) -> None:
    """Until cancelled, set `client.api_key` whenever the file at `path` changes.

    Temporal Cloud keys expire: the operator writes the new key into the Secret and every
    worker switches to it within `check_seconds`, without a restart or dropped work.
    """
    watched = WatchedFile(path, parse_api_key, check_seconds=0)
    while True:
        await asyncio.sleep(check_seconds)
        if await asyncio.to_thread(watched.refresh):
            client.api_key = watched.current()
            logger.info("API key updated from %s", path)
