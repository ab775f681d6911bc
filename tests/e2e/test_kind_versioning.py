"""Upgrades and rollbacks on a real cluster (kind) never strand an order: while an order pinned to
build A waits for approval, an upgrade that drops A is refused by the guard hook; one that keeps A
(the release's own retain.yaml) rolls B out and promotes it; `helm rollback` to A is refused
while an order is pinned to B, then goes through and re-promotes A; both orders complete on their
builds. Runs in GitHub Actions' kind-e2e job (`pytest -m k8s`); elsewhere it skips with one
reason."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from services.contracts import APPROVE, ApprovalRequest, OrderInput, OrderState, OrderStatus
from services.orchestration.client import order_status, start_order
from services.runtime.deployments import targets, view
from services.runtime.rollout import drainage
from services.runtime.versioning import VersioningSettings
from tests.e2e.cluster import NAMESPACE, helm, kubectl

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(2400)]

RELEASE = "rtwv"
FULLNAME = RELEASE  # it contains the chart name (rtw.fullname)
PREFIX = "v-"
#: Both builds run the e2e image; what differs is the build id each registers with Temporal.
BASE = [
    "image.repository=rtw",
    "image.tag=e2e",
    "image.pullPolicy=Never",
    "temporal.address=temporal-dev.temporal.svc.cluster.local:7233",
    "database.existingSecret=rtw-db",
    f"queuePrefix={PREFIX}",
    "tests.enabled=false",
]
DATABASE_PEER = (
    'networkPolicy.databaseTo=[{"podSelector":{"matchLabels":'
    '{"app.kubernetes.io/name":"rtw-postgres"}}}]'
)


def release(*args: str, sets: tuple[str, ...] = (), values: tuple[Path, ...] = ()) -> str:
    """`helm ARGS` with --set/-f, waiting; returns stdout+stderr, asserting success."""
    result = run_release(*args, sets=sets, values=values)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def run_release(
    *args: str, sets: tuple[str, ...] = (), values: tuple[Path, ...] = ()
) -> subprocess.CompletedProcess[str]:
    flags = [flag for s in sets for flag in ("--set", s)]
    flags += [flag for v in values for flag in ("-f", str(v))]
    return helm(*args, *flags, "--wait", "--timeout", "8m", timeout=900)


def build_deployments(apps: Any) -> dict[str, set[str]]:
    """The release's worker Deployments by `rtw/build` label."""
    found: dict[str, set[str]] = {}
    for dep in apps.list_namespaced_deployment(
        NAMESPACE, label_selector=f"app.kubernetes.io/instance={RELEASE}"
    ).items:
        found.setdefault(dep.metadata.labels.get("rtw/build", ""), set()).add(dep.metadata.name)
    return found


def retain_yaml(tmp_path: Path) -> Path:
    """The running release's record of its builds, as the runbook saves it."""
    path = tmp_path / "retain.yaml"
    jsonpath = r"jsonpath={.data.retain\.yaml}"
    record = kubectl("-n", NAMESPACE, "get", "configmap", f"{FULLNAME}-builds", "-o", jsonpath)
    path.write_text(record)
    return path


@pytest.fixture
def versioned_release(kind_cluster: None) -> Iterator[None]:
    installed = helm(
        "install", RELEASE, "charts/rtw", *[f for s in BASE for f in ("--set", s)],
        "--set", "versioning.buildId=build-a", "--set-json", DATABASE_PEER,
        "--wait", "--timeout", "8m", timeout=900,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    try:
        yield
    finally:
        helm("uninstall", RELEASE, "--wait")


async def waiting_order(temporal: Client) -> WorkflowHandle[Any, OrderStatus]:
    order = OrderInput.model_validate(
        {
            "order_id": f"e2e-v-{uuid.uuid4().hex[:8]}",
            "customer_id": "c-e2e",
            "currency": "USD",
            "payment_method": "pm_card_visa",
            "items": [{"sku": "sku-2", "quantity": 100, "unit_price_cents": 1200}],
        }
    )
    handle = (await start_order(temporal, order, task_queue=f"{PREFIX}orchestration")).handle
    async with asyncio.timeout(120):
        while True:
            if (await order_status(temporal, order.order_id)).state is OrderState.AWAITING_APPROVAL:
                return handle
            await asyncio.sleep(1)


async def approve_and_builds(handle: WorkflowHandle[Any, OrderStatus]) -> set[str]:
    """Approve the order, wait for it, and return the builds its workflow tasks ran on."""
    await handle.execute_update(APPROVE, ApprovalRequest(reviewer="e2e", reason="ok"))
    result: OrderStatus = await handle.result()
    assert result.state is OrderState.COMPLETED
    return {
        event.workflow_task_completed_event_attributes.deployment_version.build_id
        for event in (await handle.fetch_history()).events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    }


async def test_upgrades_and_rollbacks_never_strand_a_pinned_order(
    versioned_release: None, temporal: Client, apps: Any, tmp_path: Path
) -> None:
    deployments = targets(VersioningSettings(deployment_name=RELEASE), prefix=PREFIX)
    orchestration = next(t for t in deployments if t.queue.value == "orchestration")
    assert (await view(temporal, orchestration)).current == "build-a"
    on_a = await waiting_order(temporal)

    # An upgrade that drops build A is refused before anything changes.
    refused = run_release("upgrade", RELEASE, "charts/rtw", "--reuse-values",
                          sets=("versioning.buildId=build-b",))  # fmt: skip
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "pre-upgrade" in output
    guard_log = kubectl("-n", NAMESPACE, "logs", f"job/{FULLNAME}-upgrade-guard")
    for text in (output, guard_log):  # Helm >= 3.18 prints the failed hook's log too
        assert "refusing this release" in text
        assert "build build-a: 1 open pinned workflow(s)" in text
        assert "(OrderSaga 1)" in text
        assert "versioning.retainedBuilds" in text
    assert set(build_deployments(apps)) == {"build-a"}

    # The upgrade that keeps A (the release's own record) rolls B out and promotes it.
    release("upgrade", RELEASE, "charts/rtw", "--reuse-values",
            sets=("versioning.buildId=build-b",), values=(retain_yaml(tmp_path),))  # fmt: skip
    assert set(build_deployments(apps)) == {"build-a", "build-b"}
    assert (await view(temporal, orchestration)).current == "build-b"
    assert not (await drainage(temporal, orchestration, "build-a")).drained
    on_b = await waiting_order(temporal)

    # Rolling back to revision 1 (A only) removes B: refused while an order is pinned to B.
    refused = run_release("rollback", RELEASE, "1")
    assert refused.returncode != 0
    assert "build build-b: 1 open pinned workflow(s)" in kubectl(
        "-n", NAMESPACE, "logs", f"job/{FULLNAME}-rollback-guard"
    )
    assert set(build_deployments(apps)) == {"build-a", "build-b"}

    assert await approve_and_builds(on_b) == {"build-b"}
    async with asyncio.timeout(300):  # B drained on every queue: nothing pinned to it is open
        while True:
            if all([(await drainage(temporal, t, "build-b")).drained for t in deployments]):
                break
            await asyncio.sleep(5)
    # Now the rollback goes through, and its post-rollback hook makes A current again.
    release("rollback", RELEASE, "1")
    assert set(build_deployments(apps)) == {"build-a"}
    assert (await view(temporal, orchestration)).current == "build-a"
    assert await approve_and_builds(on_a) == {"build-a"}
