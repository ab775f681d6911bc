"""The chart on a real cluster (kind): rollouts under Pod Security "restricted", scaling and
upgrades that touch only what changed, sagas through a payments pod deletion with exactly one
capture, the saga's trace in Jaeger, and `helm test`. Runs in GitHub Actions' kind-e2e job
(`pytest -m k8s`); elsewhere every test skips with one reason."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiohttp
import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client

from services.contracts import AUTHORIZE_PAYMENT, OrderInput, OrderState, OrderStatus
from services.orchestration.client import start_order
from tests.e2e.cluster import (
    NAMESPACE,
    RELEASE,
    WORKERS,
    deployment_fingerprints,
    helm,
    port_forward,
    sql,
)

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(1800)]


def order(order_id: str) -> OrderInput:
    return OrderInput.model_validate(
        {
            "order_id": order_id,
            "customer_id": "c-e2e",
            "currency": "USD",
            "payment_method": "pm_card_visa",
            "items": [{"sku": "sku-1", "quantity": 1, "unit_price_cents": 1500}],
        }
    )


def upgrade(*sets: str) -> None:
    args = [arg for s in sets for arg in ("--set", s)]
    result = helm(
        "upgrade", RELEASE, "charts/rtw", "--reuse-values", *args, "--wait", "--timeout", "5m"
    )
    assert result.returncode == 0, result.stderr


def test_every_worker_rolls_out_under_pss_restricted(apps: Any, core: Any) -> None:
    labels = core.read_namespace(NAMESPACE).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    for worker in WORKERS:
        (dep,) = apps.list_namespaced_deployment(
            NAMESPACE, label_selector=f"app.kubernetes.io/component={worker}"
        ).items
        assert dep.status.available_replicas == dep.spec.replicas >= 1, worker
        for container in dep.spec.template.spec.containers:
            ctx = container.security_context
            assert ctx.run_as_non_root, worker
            assert ctx.read_only_root_filesystem, worker
            assert ctx.allow_privilege_escalation is False, worker


def test_helm_test_pings_every_queue_and_prints_the_test_pods_log(core: Any) -> None:
    """`helm test --logs` reads the log of the Pod named after the hook (every Helm the chart
    supports, see tests/chart/test_helm_test_hooks.py): `rtw ping`'s JSON, one answer per queue."""
    result = helm("test", RELEASE, "--logs", "--timeout", "5m")
    assert result.returncode == 0, result.stdout + result.stderr
    test_pod = f"{RELEASE}-test"  # rtw.fullname is the release name when it holds "rtw"
    logs = result.stdout.split(f"POD LOGS: {test_pod}", 1)
    assert len(logs) == 2, result.stdout
    # `rtw ping` prints one JSON document (sorted keys) among its log lines
    start = logs[1].index('{\n  "answers"')
    report, _ = json.JSONDecoder().raw_decode(logs[1][start:])
    assert set(report["pollers"]) == set(WORKERS)
    assert all(count >= 1 for count in report["pollers"].values())
    assert len(report["answers"]) == len(WORKERS)
    # The Pod stays until the next run (before-hook-creation), for `kubectl logs`.
    assert core.read_namespaced_pod(test_pod, NAMESPACE).status.phase == "Succeeded"


def test_scaling_payments_to_three_changes_only_payments(apps: Any) -> None:
    before = deployment_fingerprints(apps)

    upgrade("workers.payments.replicaCount=3")

    after = deployment_fingerprints(apps)
    (payments,) = apps.list_namespaced_deployment(
        NAMESPACE, label_selector="app.kubernetes.io/component=payments"
    ).items
    assert payments.spec.replicas == 3
    assert payments.status.available_replicas == 3
    for worker in ("orchestration", "notifications"):
        assert after[worker] == before[worker], f"{worker} was touched by scaling payments"


def test_an_upgrade_with_a_changed_value_rolls_only_that_worker(apps: Any) -> None:
    before = deployment_fingerprints(apps)

    upgrade("workers.notifications.resources.limits.memory=300Mi")

    after = deployment_fingerprints(apps)
    assert after["notifications"] != before["notifications"]
    for worker in ("orchestration", "payments"):
        assert after[worker] == before[worker], f"{worker} rolled for a notifications change"


async def _running_authorization_worker(temporal: Client, workflow_id: str) -> str:
    """The identity (`pid@host`) of the worker running this saga's authorization."""
    handle = temporal.get_workflow_handle(workflow_id)
    async with asyncio.timeout(60):
        while True:
            desc = await handle.describe()
            for pending in desc.raw_description.pending_activities:
                if (
                    pending.activity_type.name == AUTHORIZE_PAYMENT
                    and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                ):
                    return pending.last_worker_identity
            await asyncio.sleep(0.1)


async def test_sagas_survive_a_payments_pod_deleted_mid_call_with_one_capture_each(
    temporal: Client, core: Any
) -> None:
    """Payments at three replicas, provider calls of 1.5 s: the pod running an authorization
    is deleted at once (grace 0, as a node loss); every saga still completes, and the shared
    ledger holds exactly one capture per order."""
    run = uuid.uuid4().hex[:6]
    queue = "orchestration"
    handles = [
        (await start_order(temporal, order(f"e2e-{run}-{i}"), task_queue=queue)).handle
        for i in range(5)
    ]
    identity = await _running_authorization_worker(temporal, handles[0].id)
    pod = identity.split("@", 1)[1]
    core.delete_namespaced_pod(pod, NAMESPACE, grace_period_seconds=0)

    results: list[OrderStatus] = await asyncio.wait_for(
        asyncio.gather(*(h.result() for h in handles)), 300
    )

    assert {r.state for r in results} == {OrderState.COMPLETED}
    ids = ",".join(f"'e2e-{run}-{i}'" for i in range(5))
    rows = sql(
        "SELECT order_id, count(*) FROM ledger WHERE kind = 'capture' "
        f"AND order_id IN ({ids}) GROUP BY order_id"
    )
    assert sorted((o, int(n)) for o, n in rows) == [(f"e2e-{run}-{i}", 1) for i in range(5)]


async def test_the_saga_trace_is_in_jaeger(temporal: Client) -> None:
    order_id = f"e2e-trace-{uuid.uuid4().hex[:6]}"
    started = await start_order(temporal, order(order_id), task_queue="orchestration")
    assert (await started.handle.result()).state is OrderState.COMPLETED

    wanted = {"rtw-orchestration", "rtw-payments", "rtw-notifications"}
    params = {"service": "rtw-orchestration", "tags": json.dumps({"rtw.order_id": order_id})}
    services: set[str] = set()
    with port_forward("observability", "jaeger", 16686) as port:
        async with aiohttp.ClientSession() as http:
            for _ in range(60):  # spans arrive in batches
                url = f"http://127.0.0.1:{port}/api/traces"
                async with http.get(url, params=params) as resp:
                    traces = (await resp.json())["data"]
                services = {
                    p["serviceName"] for t in traces for p in t.get("processes", {}).values()
                }
                if wanted <= services:
                    break
                await asyncio.sleep(1)
    assert wanted <= services, f"one trace across the services, got {services}"
