"""Order events: the store every step writes them into, and what reads them back."""

from services.events.store import (
    EventStore,
    PostgresEvents,
    SqliteEvents,
    StoredEvent,
    events_for,
    write_postgres,
    write_sqlite,
)

__all__ = [
    "EventStore",
    "PostgresEvents",
    "SqliteEvents",
    "StoredEvent",
    "events_for",
    "write_postgres",
    "write_sqlite",
]
