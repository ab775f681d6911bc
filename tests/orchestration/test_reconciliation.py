"""Reconciliation: captures whose saga neither completed nor refunded them, and card holds
left open by sagas that ended, are reported (the ledger's SQL side: tests/payments)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from services.contracts import (
    RECONCILIATION_WORKFLOW,
    LedgerSummary,
    OpenAuthorization,
    OrderMoney,
    ReconciliationInput,
    ReconciliationReport,
)
from tests.orchestration.rig import SagaRig, saga_rig

OLD = "2000-01-01T00:00:00.000+00:00"


def money(order_id: str, captured: int, refunded: int = 0) -> OrderMoney:
    return OrderMoney(
        order_id=order_id,
        currency="USD",
        captured_cents=captured,
        refunded_cents=refunded,
        first_capture_at=OLD,
    )


@pytest.fixture
async def rig(time_skipping_env: WorkflowEnvironment, queue_prefix: str) -> AsyncIterator[SagaRig]:
    async with saga_rig(time_skipping_env, queue_prefix) as rig:
        yield rig


async def reconcile(rig: SagaRig) -> ReconciliationReport:
    report: ReconciliationReport = await rig.client.execute_workflow(
        RECONCILIATION_WORKFLOW,
        ReconciliationInput(lookback_hours=24 * 365 * 100),
        id=f"reconciliation-{uuid.uuid4().hex[:8]}",
        task_queue=rig.orchestration_queue,
        result_type=ReconciliationReport,
    )
    return report


async def test_orphaned_charges_are_reported_and_ops_alerted(rig: SagaRig) -> None:
    rig.standins.ledger = LedgerSummary(
        orders=[
            money("done", 3000),
            money("refunded", 3000, 3000),
            money("in-flight", 3000),
            money("terminated", 3000),
            money("vanished", 1500),
        ]
    )
    rig.outcomes.outcomes = {
        "done": "completed",
        "in-flight": "running",
        "terminated": "terminated",
    }

    report = await reconcile(rig)

    assert sorted((o.order_id, o.saga_outcome) for o in report.orphaned) == [
        ("terminated", "terminated"),
        ("vanished", "missing"),
    ]
    assert report.alert_sent
    [alert] = rig.notices("reconciliation_alert")
    assert alert.customer_id == "ops"
    assert alert.data["orphaned"] == 2
    assert alert.data["amount_cents"] == 4500


async def test_a_clean_ledger_sends_no_alert(rig: SagaRig) -> None:
    rig.standins.ledger = LedgerSummary(orders=[money("done", 3000)])
    rig.outcomes.outcomes = {"done": "completed"}

    report = await reconcile(rig)

    assert report.orphaned == []
    assert not report.alert_sent
    assert rig.notices("reconciliation_alert") == []


def hold(order_id: str, amount: int) -> OpenAuthorization:
    return OpenAuthorization(
        order_id=order_id,
        idempotency_key=f"order-{order_id}:run:authorize",
        currency="USD",
        amount_cents=amount,
        authorized_at=OLD,
    )


async def test_dangling_authorizations_of_ended_sagas_are_reported(rig: SagaRig) -> None:
    rig.standins.ledger = LedgerSummary(
        open_authorizations=[hold("waiting", 150_000), hold("failed", 3000), hold("gone", 700)]
    )
    rig.outcomes.outcomes = {"waiting": "running", "failed": "failed"}

    report = await reconcile(rig)

    assert [(d.order_id, d.saga_outcome) for d in report.dangling] == [
        ("failed", "failed"),
        ("gone", "missing"),
    ], "a saga still running (e.g. awaiting approval) holds its authorization legitimately"
    [alert] = rig.notices("reconciliation_alert")
    assert alert.data["dangling"] == 2
    assert alert.data["held_cents"] == 3700
