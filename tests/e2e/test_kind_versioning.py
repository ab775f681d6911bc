"""Rainbow deployments on a real cluster (kind): `helm upgrade` from build A to build B while an
order pinned to A waits for approval; it completes on A, and A's Deployments can then go.
Runs in GitHub Actions' kind-e2e job (`pytest -m k8s`); elsewhere it skips with one reason."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from services.contracts import APPROVE, ApprovalRequest, OrderInput, OrderState, OrderStatus
from services.orchestration.client import order_status, start_order
from services.runtime.deployments import targets, view
from services.runtime.rollout import drainage
from services.runtime.versioning import VersioningSettings
from tests.e2e.cluster import NAMESPACE, helm

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(1800)]

RELEASE = "rtwv"
PREFIX = "v-"
#: Both builds run the e2e image; what differs is the build id each registers with Temporal.
BASE = [
    "image.repository=rtw",
    "image.tag=e2e",
    "image.pullPolicy=Never",
    "temporal.address=temporal-dev.temporal.svc.cluster.local:7233",
    "database.existingSecret=rtw-db",
    f"queuePrefix={PREFIX}",
    "versioning.enabled=true",
    "tests.enabled=false",
]
DATABASE_PEER = (
    'networkPolicy.databaseTo=[{"podSelector":{"matchLabels":'
    '{"app.kubernetes.io/name":"rtw-postgres"}}}]'
)


def release(command: str, *sets: str, json_sets: tuple[str, ...] = (), reuse: bool = False) -> None:
    args = ["--reuse-values"] if reuse else []
    args += [arg for s in sets for arg in ("--set", s)]
    args += [arg for s in json_sets for arg in ("--set-json", s)]
    result = helm(command, RELEASE, "charts/rtw", *args, "--wait", "--timeout", "8m")
    assert result.returncode == 0, result.stdout + result.stderr


def build_deployments(apps: Any) -> dict[str, set[str]]:
    """The release's worker Deployments by `rtw/build` label."""
    found: dict[str, set[str]] = {}
    for dep in apps.list_namespaced_deployment(
        NAMESPACE, label_selector=f"app.kubernetes.io/instance={RELEASE}"
    ).items:
        found.setdefault(dep.metadata.labels.get("rtw/build", ""), set()).add(dep.metadata.name)
    return found


@pytest.fixture
def versioned_release(kind_cluster: None) -> Iterator[None]:
    release("install", *BASE, "versioning.buildId=build-a", json_sets=(DATABASE_PEER,))
    try:
        yield
    finally:
        helm("uninstall", RELEASE, "--wait")


async def test_an_upgrade_keeps_a_pinned_order_on_its_build_until_it_completes(
    versioned_release: None, temporal: Client, apps: Any
) -> None:
    deployments = targets(VersioningSettings(deployment_name=RELEASE), prefix=PREFIX)
    orchestration = next(t for t in deployments if t.queue.value == "orchestration")
    assert (await view(temporal, orchestration)).current == "build-a"

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
                break
            await asyncio.sleep(1)

    release(
        "upgrade",
        "versioning.buildId=build-b",
        "versioning.retainedBuilds[0].buildId=build-a",
        "versioning.retainedBuilds[0].tag=e2e",
        reuse=True,
    )
    assert set(build_deployments(apps)) == {"build-a", "build-b"}
    assert (await view(temporal, orchestration)).current == "build-b"  # the hook promoted B
    assert not (await drainage(temporal, orchestration, "build-a")).drained

    await handle.execute_update(APPROVE, ApprovalRequest(reviewer="e2e", reason="ok"))
    result: OrderStatus = await handle.result()
    assert result.state is OrderState.COMPLETED
    builds = {
        event.workflow_task_completed_event_attributes.deployment_version.build_id
        for event in (await handle.fetch_history()).events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    }
    assert builds == {"build-a"}

    async with asyncio.timeout(300):  # drained on every queue: nothing pinned to A is open
        while True:
            if all([(await drainage(temporal, t, "build-a")).drained for t in deployments]):
                break
            await asyncio.sleep(5)
    release("upgrade", json_sets=("versioning.retainedBuilds=[]",), reuse=True)
    assert set(build_deployments(apps)) == {"build-b"}
