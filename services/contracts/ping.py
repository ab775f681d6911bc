"""Liveness contract: a `Ping` workflow that runs a no-op activity on every task queue."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.contracts.queues import TaskQueue

PING_WORKFLOW = "Ping"


def ping_activity(queue: TaskQueue) -> str:
    """The no-op activity each worker service registers, e.g. `payments.ping`."""
    return f"{queue.value}.ping"


#: Seconds a queue gets to answer unless the request says otherwise (`rtw ping`).
PING_TIMEOUT_SECONDS = 20


class PingRequest(BaseModel):
    """Who asks (for logs), and how long each queue gets to answer.

    Temporal's worker controller runs `Ping` as the gate of a new build with the JSON of
    its WorkerDeployment's `rollout.gate.input`, e.g. `{"caller": "worker-controller",
    "timeout_seconds": 300}`: on a first install the other queues' builds may still be
    starting, so a gate waits longer than `rtw ping` does.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    caller: str = Field(default="rtw", max_length=128)
    timeout_seconds: int = Field(default=PING_TIMEOUT_SECONDS, ge=1, le=3600)


class Pong(BaseModel):
    """One worker's answer."""

    model_config = ConfigDict(frozen=True)

    queue: str
    worker: str
    store: str = Field(default="", description="the store the worker uses (location#id)")


class PingResult(BaseModel):
    """Every queue answered; `Ping`'s result."""

    answers: list[Pong] = Field(default_factory=list)
