"""Schema migrations through the real `rtw` command against a real PostgreSQL: a worker on an
old schema refuses to start and names the fix; migrate is idempotent and safe concurrently."""

from __future__ import annotations

import asyncio
import json

import pytest

from services.runtime.devserver import DevServer
from services.runtime.migrations import LATEST_VERSION
from tests.integration.helpers import rtw

pytestmark = pytest.mark.integration


async def test_a_worker_refuses_an_unmigrated_database_and_names_the_command(
    postgres_url: str, dev_server: DevServer
) -> None:
    env = {"TEMPORAL_ADDRESS": dev_server.address, "RTW_DATABASE_URL": postgres_url}

    result = await rtw("worker", "payments", env=env)

    assert result.code == 1
    assert "run `rtw db migrate` first" in result.stderr
    assert "Traceback" not in result.stderr
    assert "is at version 0, this build needs" in result.stderr


async def test_migrate_is_idempotent_and_safe_to_run_concurrently(postgres_url: str) -> None:
    env = {"RTW_DATABASE_URL": postgres_url}
    before = await rtw("db", "status", "--json", env=env)
    assert before.code == 1, "a pending migration makes status fail (a readiness gate)"
    assert before.json()["applied"] == 0

    racing = await asyncio.gather(*(rtw("db", "migrate", env=env) for _ in range(3)))

    assert [r.code for r in racing] == [0, 0, 0], [r.stderr for r in racing]
    applied = [r for r in racing if "applied" in r.stdout]
    assert len(applied) == 1, "exactly one of the racing runs applied the migrations"
    again = await rtw("db", "migrate", env=env)
    assert again.code == 0
    assert "up to date" in again.stdout
    after = await rtw("db", "status", "--json", env=env)
    assert after.code == 0
    assert json.loads(after.stdout)["applied"] == LATEST_VERSION
    assert "postgres@" not in after.stdout, "credentials never printed"


async def test_an_unreachable_database_is_one_line(postgres_url: str) -> None:
    env = {"RTW_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/rtw"}
    result = await rtw("payments", "ledger", env=env)
    assert result.code == 1
    assert result.stderr.startswith("rtw: cannot reach PostgreSQL at 127.0.0.1:1/rtw")
    assert len(result.stderr.strip().splitlines()) == 1
