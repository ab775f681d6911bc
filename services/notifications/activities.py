"""Notification activities: render and deliver once per dedupe key."""

from __future__ import annotations

import logging

from temporalio import activity

from services.contracts import SEND_NOTIFICATION, NotificationReceipt, NotificationRequest
from services.notifications.channels import Channel

logger = logging.getLogger(__name__)


class NotificationActivities:
    """Sends customer notifications through one channel."""

    def __init__(self, *, channel: Channel) -> None:
        self._channel = channel

    @activity.defn(name=SEND_NOTIFICATION)
    async def send(self, request: NotificationRequest) -> NotificationReceipt:
        """Deliver `request`; a retry of a delivered message is reported as a duplicate."""
        delivered = await self._channel.deliver(request)
        logger.info(
            "notification %s %s",
            request.kind.value,
            "delivered" if delivered else "already delivered",
            extra={"dedupe_key": request.dedupe_key, "order_id": request.order_id},
        )
        return NotificationReceipt(
            dedupe_key=request.dedupe_key, channel=self._channel.name, duplicate=not delivered
        )
