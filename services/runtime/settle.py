"""Finish a side effect that has begun, even when the activity running it is cancelled.

A payment or stock movement interrupted half way (the provider answered, the ledger not yet
written; a transaction's commit sent, its answer not yet read) leaves nobody knowing whether
it happened. The saga calls these steps with `WAIT_CANCELLATION_COMPLETED` and compensates
only once they report back, so the movement finishes and reports what it did; the
compensation then finds it by its idempotency key. A cancel thus costs at most the rest of
one step (its provider call is bounded by its own timeout).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


async def to_completion(work: Awaitable[T]) -> T:
    """Await `work` to its end; a cancel of the caller meanwhile is noted and outlived.

    The result (or the error) of `work` is what the caller returns, so an activity reports
    the movement it made rather than "cancelled"."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise
            if not cancelled:
                cancelled = True
                logger.info("cancel requested mid-step: finishing the step first")
            continue
        return result
