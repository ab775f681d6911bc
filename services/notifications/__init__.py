"""Notifications service: customer messages delivered once (queue `notifications`)."""

from services.notifications.activities import NotificationActivities
from services.notifications.channels import Channel
from services.notifications.outbox import Outbox, PostgresOutbox, SqliteOutbox, outbox_for
from services.notifications.worker import notifications_worker

__all__ = [
    "Channel",
    "NotificationActivities",
    "Outbox",
    "PostgresOutbox",
    "SqliteOutbox",
    "notifications_worker",
    "outbox_for",
]
