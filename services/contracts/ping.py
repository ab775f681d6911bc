"""Liveness contract: a `Ping` workflow that runs a no-op activity on every task queue."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.contracts.queues import TaskQueue

PING_WORKFLOW = "Ping"


def ping_activity(queue: TaskQueue) -> str:
    """The no-op activity each worker service registers, e.g. `payments.ping`."""
    return f"{queue.value}.ping"


class PingRequest(BaseModel):
    """Who asks (for logs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    caller: str = Field(default="rtw", max_length=128)


class Pong(BaseModel):
    """One worker's answer."""

    model_config = ConfigDict(frozen=True)

    queue: str
    worker: str
    store: str = Field(default="", description="the store the worker uses (location#id)")


class PingResult(BaseModel):
    """Every queue answered; `Ping`'s result."""

    answers: list[Pong] = Field(default_factory=list)
