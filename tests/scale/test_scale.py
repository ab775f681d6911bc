"""Proof at scale: 2 orchestration + 3 payments + 2 notifications worker processes share one
PostgreSQL and one dev server; 60 orders of every kind; a payments process is SIGKILLed and
restarted mid-run. Money, stock and outbox must add up exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.chaos.postgres import TempPostgres
from services.chaos.run import PROFILES, ChaosReport, run_chaos
from tests.chaos.checks import assert_books_balance

pytestmark = [pytest.mark.integration, pytest.mark.scale, pytest.mark.timeout(600)]


async def test_sixty_orders_on_seven_workers_with_a_payments_kill_balance_the_books(
    tmp_path: Path, postgres_server: TempPostgres
) -> None:
    config = PROFILES["scale"]
    assert (config.orchestration, config.payments, config.notifications) == (2, 3, 2)
    assert config.sagas == 60

    report: ChaosReport = await run_chaos(
        config,
        profile="scale",
        work_dir=tmp_path,
        database_url=postgres_server.create_database(),
    )

    assert_books_balance(report)
    assert [f.kind for f in report.faults] == ["kill"], "one payments SIGKILL mid-run"
    assert report.worker_restarts >= 1, "the killed payments process was restarted"
    assert report.by_state.get("completed", 0) > 0
    assert report.by_state.get("compensated", 0) > 0, "declined and out-of-stock orders"
    assert report.by_state.get("rejected", 0) > 0, "reviewers rejected some large orders"
