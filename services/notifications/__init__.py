"""Notifications service: customer messages delivered once (queue `notifications`)."""

from services.notifications.activities import NotificationActivities
from services.notifications.channels import Channel, OutboxChannel
from services.notifications.worker import notifications_worker

__all__ = ["Channel", "NotificationActivities", "OutboxChannel", "notifications_worker"]
