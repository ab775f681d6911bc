"""Notification channels: the port every delivery route implements."""

from __future__ import annotations

from typing import Protocol

from services.contracts import NotificationRequest


class Channel(Protocol):
    """Delivers a notification; returns False when `dedupe_key` was delivered before."""

    name: str

    async def deliver(self, message: NotificationRequest) -> bool: ...
