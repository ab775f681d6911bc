"""Where workers keep state: one PostgreSQL shared by every replica, or SQLite when embedded.

`RTW_DATABASE_URL=postgresql://…` selects PostgreSQL (psycopg 3 with a connection pool);
without it every store lives in one SQLite file under `RTW_DATA_DIR` (the embedded default,
safe for several processes on one host, never for several hosts or pods).

Schema changes are versioned migrations (`services/runtime/migrations.py`). PostgreSQL is
migrated on purpose, by `rtw db migrate` (a Compose one-shot, a Helm hook Job); a worker
refuses to start on a schema that is older than its code. SQLite migrates itself on open.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_random

from services.runtime.config import DatabaseSettings
from services.runtime.migrations import LATEST_VERSION, MIGRATIONS

if TYPE_CHECKING:  # psycopg loads only when PostgreSQL is used (worker cold start)
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Advisory lock id that serialises concurrent `rtw db migrate` runs.
MIGRATION_LOCK_ID = 0x72_74_77_00  # "rtw\0"

#: SQLite file holding every store of the embedded default.
SQLITE_FILE = "rtw.sqlite3"


class DatabaseError(RuntimeError):
    """The database cannot be used: unreachable, or its schema does not fit this build."""


#: SQLSTATE of "too many connections": the server has no connection left for this process.
TOO_MANY_CONNECTIONS = "53300"


def connection_problem(exc: BaseException, *, where: str) -> str:
    """One line for a person about a failed PostgreSQL connection, with the sizing advice
    when the server is out of connections."""
    reason = " ".join(str(exc).split()) or type(exc).__name__
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate == TOO_MANY_CONNECTIONS or "too many clients" in reason:
        return (
            f"PostgreSQL at {where} is out of connections ({reason}): size its "
            "max_connections to at least the worker processes x RTW_DATABASE_POOL_SIZE, plus "
            "migrations, the CLI and other clients (idle pooled connections close after "
            "RTW_DATABASE_POOL_MAX_IDLE_SECONDS)"
        )
    return f"cannot reach PostgreSQL at {where}: {reason}"


@dataclass(frozen=True)
class StoreIdentity:
    """Which store this is: its random id (made by the first migration) and where it is."""

    id: str
    location: str

    @property
    def tag(self) -> str:
        """`<location>#<id prefix>`: what workers announce in their Temporal identity."""
        return f"{self.location}#{self.id[:12]}"


class SchemaTooOldError(DatabaseError):
    """The schema is older than the code; `rtw db migrate` fixes it."""


@dataclass(frozen=True)
class SchemaState:
    """Applied and required schema versions."""

    applied: int
    required: int = LATEST_VERSION

    @property
    def current(self) -> bool:
        """True when the schema is what this build needs."""
        return self.applied >= self.required


class PostgresDatabase:
    """A connection pool to the shared PostgreSQL, plus its migrations."""

    backend = "postgresql"

    def __init__(
        self,
        conninfo: str,
        *,
        pool_size: int = 10,
        max_idle_seconds: float = 60.0,
        connect_timeout: float = 10,
    ) -> None:
        from psycopg_pool import AsyncConnectionPool

        self._conninfo = conninfo
        self._connect_timeout = connect_timeout
        # Bounded, and idle connections beyond the first go back to the server after
        # `max_idle_seconds`: a burst's connections do not stay held, so a server sized for
        # the steady state has room for a replica that starts later.
        self.pool: AsyncConnectionPool = AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=pool_size,
            max_idle=max_idle_seconds,
            open=False,
            timeout=connect_timeout,
            kwargs={"autocommit": False},
            check=AsyncConnectionPool.check_connection,
        )

    @property
    def where(self) -> str:
        """host:port/dbname, without credentials (for messages)."""
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(self._conninfo)
        return (
            f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"
        )

    async def open(self) -> None:
        """Open the pool, failing with one line (the server's own reason) when the database
        cannot be reached. One direct connection first: the pool would only report that it
        timed out, after logging every failed attempt."""
        from psycopg import AsyncConnection

        try:
            probe = await AsyncConnection.connect(
                self._conninfo, connect_timeout=max(1, int(self._connect_timeout))
            )
            await probe.close()
            await self.pool.open(wait=True, timeout=self._connect_timeout)
        except Exception as exc:
            await self.pool.close()
            raise DatabaseError(connection_problem(exc, where=self.where)) from None

    async def ping(self, *, timeout: float) -> None:
        """One `SELECT 1` through the pool within `timeout` seconds, or `DatabaseError`
        saying why (the server away, or no connection to be had)."""
        try:
            async with asyncio.timeout(timeout), self.pool.connection(timeout=timeout) as conn:
                await conn.execute("SELECT 1")
                await conn.rollback()
        except Exception as exc:
            if isinstance(exc, TimeoutError):
                raise DatabaseError(
                    f"PostgreSQL at {self.where} gave no connection within {timeout:g}s"
                ) from None
            raise DatabaseError(connection_problem(exc, where=self.where)) from None

    async def identity(self) -> StoreIdentity:
        """This store's identity (written by `rtw db migrate`)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT id FROM store_identity ORDER BY created_at LIMIT 1")
            row = await cur.fetchone()
            await conn.rollback()
        if row is None:
            raise DatabaseError(f"{self.where} has no store identity: run `rtw db migrate`")
        return StoreIdentity(id=str(row[0]), location=f"postgresql://{self.where}")

    async def connections(self) -> tuple[int, int, int]:
        """Connections in use, the server's `max_connections`, and those reserved for
        superusers."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                "'client backend'), current_setting('max_connections')::int, "
                "current_setting('superuser_reserved_connections')::int"
            )
            row = await cur.fetchone()
            await conn.rollback()
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.pool.close()

    async def schema_state(self) -> SchemaState:
        """The applied schema version (0 for an empty database)."""
        async with self.pool.connection() as conn:
            return SchemaState(applied=await _pg_applied_version(conn))

    async def migrate(self) -> list[int]:
        """Apply pending migrations in order, each in its own transaction; return their
        versions. Concurrent callers wait on an advisory lock, so this is safe to run from
        several Jobs or containers at once."""
        applied: list[int] = []
        async with self.pool.connection() as conn:
            await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
            try:
                await conn.commit()
                current = await _pg_applied_version(conn)
                for migration in MIGRATIONS:
                    if migration.version <= current:
                        continue
                    async with conn.transaction():
                        await conn.execute(migration.postgres.encode())
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                            (migration.version, migration.name),
                        )
                    applied.append(migration.version)
                    logger.info("applied migration %04d %s", migration.version, migration.name)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
                await conn.commit()
        return applied

    async def require_current_schema(self) -> None:
        """Raise `SchemaTooOldError` (naming the fix) unless the schema is up to date."""
        state = await self.schema_state()
        if not state.current:
            raise SchemaTooOldError(
                f"database schema at {self.where} is at version {state.applied}, this build "
                f"needs {state.required}: run `rtw db migrate` first"
            )


async def _pg_applied_version(conn: AsyncConnection[Any]) -> int:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    cur = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
    row = await cur.fetchone()
    await conn.commit()
    return int(row[0]) if row else 0


class SqliteDatabase:
    """One SQLite file (WAL) for every store of the embedded default; migrates on open.

    Calls run in a worker thread, one at a time per process; several processes on one host
    share the file safely (SQLite's own locking, `BEGIN IMMEDIATE` for writes).
    """

    backend = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def where(self) -> str:
        """The file (for messages)."""
        return str(self.path)

    async def open(self) -> None:
        """Open the file and bring its schema up to date.

        Processes starting together race to switch a new file to WAL, which SQLite answers
        with "database is locked" at once (no busy wait), so the open is retried.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(_locked),
            wait=wait_random(0.05, 0.3),
            stop=stop_after_delay(30),
            reraise=True,
        ):
            with attempt:
                await asyncio.to_thread(self._connect)
                await self.run(_sqlite_migrate)

    def _connect(self) -> None:
        if self._conn is not None:
            return
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    async def close(self) -> None:
        """Close the file."""
        async with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work(connection)` in a thread, serialised within this process."""
        async with self._lock:
            if self._conn is None:
                raise DatabaseError(f"SQLite database {self.path} is closed")
            conn = self._conn
            return await asyncio.to_thread(work, conn)

    async def schema_state(self) -> SchemaState:
        """The applied schema version."""
        return SchemaState(applied=await self.run(_sqlite_applied_version))

    async def ping(self, *, timeout: float) -> None:
        """One `SELECT 1` within `timeout` seconds, or `DatabaseError`."""
        try:
            async with asyncio.timeout(timeout):
                await self.run(lambda c: c.execute("SELECT 1").fetchone())
        except (TimeoutError, sqlite3.Error) as exc:
            raise DatabaseError(f"SQLite database {self.path} does not answer: {exc}") from None

    async def identity(self) -> StoreIdentity:
        """This store's identity (written when the file was first migrated)."""
        row = await self.run(
            lambda c: c.execute(
                "SELECT id FROM store_identity ORDER BY created_at LIMIT 1"
            ).fetchone()
        )
        if row is None:
            raise DatabaseError(f"{self.path} has no store identity")
        return StoreIdentity(id=str(row[0]), location=f"sqlite:{self.path}")

    async def migrate(self) -> list[int]:
        """Apply pending migrations (already done on open)."""
        return await self.run(_sqlite_migrate)

    async def require_current_schema(self) -> None:
        """SQLite migrates itself on open; nothing to check."""


def _locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def _sqlite_applied_version(conn: sqlite3.Connection) -> int:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    )
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0])


def _sqlite_migrate(conn: sqlite3.Connection) -> list[int]:
    applied: list[int] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = _sqlite_applied_version(conn)
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            for statement in migration.sqlite_statements():
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                (migration.version, migration.name),
            )
            applied.append(migration.version)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return applied


Database = PostgresDatabase | SqliteDatabase


def postgres_conninfo(settings: DatabaseSettings) -> str:
    """The connection string, with the password from its file when one is configured."""
    from psycopg.conninfo import make_conninfo

    assert settings.url is not None
    url = settings.url.get_secret_value()
    if settings.password_file is not None:
        password = settings.password_file.read_text(encoding="utf-8").strip()
        return make_conninfo(url, password=password, application_name="rtw")
    return make_conninfo(url, application_name="rtw")


def database_for(settings: DatabaseSettings, *, data_dir: Path) -> Database:
    """PostgreSQL when a URL is configured, else the SQLite file under `data_dir`."""
    if settings.url is not None:
        return PostgresDatabase(
            postgres_conninfo(settings),
            pool_size=settings.pool_size,
            max_idle_seconds=settings.pool_max_idle_seconds,
        )
    return SqliteDatabase(data_dir / SQLITE_FILE)


async def open_database(
    settings: DatabaseSettings, *, data_dir: Path, require_current: bool = True
) -> Database:
    """Open the configured database; by default insist that its schema is current."""
    db = database_for(settings, data_dir=data_dir)
    await db.open()
    if require_current:
        try:
            await db.require_current_schema()
        except BaseException:
            await db.close()
            raise
    return db


__all__ = [
    "Database",
    "DatabaseError",
    "PostgresDatabase",
    "SchemaState",
    "SchemaTooOldError",
    "SqliteDatabase",
    "StoreIdentity",
    "database_for",
    "open_database",
    "postgres_conninfo",
]
