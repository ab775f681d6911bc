"""Notification activities: render and deliver once per dedupe key."""

from __future__ import annotations

import asyncio
import logging

from temporalio import activity

from services.contracts import SEND_NOTIFICATION, NotificationReceipt, NotificationRequest
from services.notifications.channels import Channel
from services.runtime.settle import to_completion

logger = logging.getLogger(__name__)


class NotificationActivities:
    """Sends customer notifications through one channel."""

    def __init__(self, *, channel: Channel, hold_seconds: float = 0.0) -> None:
        self._channel = channel
        self._hold_seconds = hold_seconds  # fault injection: RTW_FAULT_STEP_DELAY_MS

    @activity.defn(name=SEND_NOTIFICATION)
    async def send(self, request: NotificationRequest) -> NotificationReceipt:
        """Deliver `request`; a retry of a delivered message is reported as a duplicate."""
        return await to_completion(self._send(request))

    async def _send(self, request: NotificationRequest) -> NotificationReceipt:
        delivered = await self._channel.deliver(request)
        if self._hold_seconds:
            await asyncio.sleep(self._hold_seconds)
        logger.info(
            "notification %s %s",
            request.kind.value,
            "delivered" if delivered else "already delivered",
            extra={"dedupe_key": request.dedupe_key, "order_id": request.order_id},
        )
        return NotificationReceipt(
            dedupe_key=request.dedupe_key, channel=self._channel.name, duplicate=not delivered
        )
