"""Open the configured database for a worker's lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.runtime.config import Settings
from services.runtime.database import Database, open_database


@asynccontextmanager
async def worker_database(settings: Settings) -> AsyncIterator[Database]:
    """The shared PostgreSQL (schema checked) or the embedded SQLite file, closed on exit."""
    db = await open_database(settings.database, data_dir=settings.data_dir)
    try:
        yield db
    finally:
        await db.close()
