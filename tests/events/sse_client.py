"""A small Server-Sent Events reader over httpx, for tests and benchmarks."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class SseMessage:
    """One dispatched SSE message (or comment), with the time it arrived."""

    event: str = "message"
    id: str | None = None
    data: str = ""
    comment: str | None = None
    received: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.data)


async def messages(response: httpx.Response) -> AsyncIterator[SseMessage]:
    """Messages and comments of an open `text/event-stream` response, as they arrive."""
    current = SseMessage()
    data: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                current.data = "\n".join(data)
                current.received = time.time()
                yield current
            current, data = SseMessage(), []
            continue
        if line.startswith(":"):
            yield SseMessage(comment=line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            current.event = value
        elif name == "id":
            current.id = value
        elif name == "data":
            data.append(value)


async def read_stream(
    client: httpx.AsyncClient, path: str, *, last_event_id: str | None = None
) -> list[SseMessage]:
    """Every event of a stream until the server closes it (comments dropped)."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    found = []
    async with client.stream("GET", path, headers=headers, timeout=None) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for message in messages(response):
            if message.comment is None:
                found.append(message)
    return found
