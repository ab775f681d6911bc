"""versioning.mode=controller on a real cluster (kind): Temporal's worker controller, installed
from its published charts at the pinned version, runs rtw's rollout. An order waits for
approval on build A while an upgrade brings build B: the controller gates B (Ping), ramps it
and makes it current, keeps A's Deployment while the order is open, and once it completed on
A scales A's Deployment down and deletes it after the (short) sunset delays. Runs in GitHub
Actions' kind-e2e-controller job (`pytest -m "k8s and controller"`); elsewhere it skips with
one reason."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio.client import Client

from services.contracts import (
    APPROVE,
    ApprovalRequest,
    OrderInput,
    OrderState,
    OrderStatus,
    TaskQueue,
    queue_name,
)
from services.orchestration.client import order_status, start_order
from tests.chart._controller_crds import CONTROLLER_CHART_VERSION
from tests.e2e.cluster import CONTEXT, NAMESPACE, REPO, helm, kubectl
from tests.integration.builds import builds_of_workflow_tasks

pytestmark = [pytest.mark.k8s, pytest.mark.controller, pytest.mark.timeout(2400)]

RELEASE = "rtwc"
PREFIX = "c-"
#: The chart names each queue's WorkerDeployment <release>-<prefix><queue>; the controller
#: names its Temporal Worker Deployment <k8s namespace>/<that> (deployments.go, v1.8.1).
ORCHESTRATION = f"{RELEASE}-{PREFIX}orchestration"
TEMPORAL_NAME = f"{NAMESPACE}/{ORCHESTRATION}"
CONTROLLER_NAMESPACE = "temporal-system"
#: As the controller's own Skaffold setup installs it (skaffold.yaml, v1.8.1).
CERT_MANAGER_VERSION = "v1.20.0"
SCALEDOWN_SECONDS = 30
DELETE_SECONDS = 60
BASE = [
    "image.repository=rtw",
    "image.tag=e2e",
    "image.pullPolicy=Never",
    "temporal.address=temporal-dev.temporal.svc.cluster.local:7233",
    "database.existingSecret=rtw-db",
    f"queuePrefix={PREFIX}",
    "tests.enabled=false",
    "versioning.mode=controller",
    "versioning.controller.steps[0].rampPercentage=50",
    "versioning.controller.steps[0].pauseDuration=30s",
    f"versioning.controller.sunset.scaledownDelay={SCALEDOWN_SECONDS}s",
    f"versioning.controller.sunset.deleteDelay={DELETE_SECONDS}s",
]
DATABASE_PEER = (
    'networkPolicy.databaseTo=[{"podSelector":{"matchLabels":'
    '{"app.kubernetes.io/name":"rtw-postgres"}}}]'
)
#: What the chart's WorkerResourceTemplates hold: the controller's webhook refuses other kinds.
ALLOWED_RESOURCES = json.dumps(
    [
        {"kinds": ["HorizontalPodAutoscaler"], "apiGroups": ["autoscaling"],
         "resources": ["horizontalpodautoscalers"]},
        {"kinds": ["PodDisruptionBudget"], "apiGroups": ["policy"],
         "resources": ["poddisruptionbudgets"]},
    ]
)  # fmt: skip


def cluster_helm(*args: str, timeout: float = 900) -> None:
    """The pinned helm against the kind cluster, outside rtw's namespace."""
    result = subprocess.run(
        [str(REPO / ".tools" / "bin" / "helm"), *args, "--kube-context", CONTEXT],
        capture_output=True, text=True, check=False, timeout=timeout,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="session")
def worker_controller(kind_cluster: None) -> None:
    """cert-manager (the controller's webhook TLS), the controller's CRDs and the controller."""
    cluster_helm(
        "upgrade", "--install", "cert-manager", "cert-manager",
        "--repo", "https://charts.jetstack.io", "--version", CERT_MANAGER_VERSION,
        "--namespace", "cert-manager", "--create-namespace", "--set", "crds.enabled=true",
        "--wait", "--timeout", "5m",
    )  # fmt: skip
    cluster_helm(
        "upgrade", "--install", "temporal-worker-controller-crds",
        "oci://docker.io/temporalio/temporal-worker-controller-crds",
        "--version", CONTROLLER_CHART_VERSION, "--namespace", CONTROLLER_NAMESPACE,
        "--create-namespace", "--wait",
    )  # fmt: skip
    cluster_helm(
        "upgrade", "--install", "temporal-worker-controller",
        "oci://docker.io/temporalio/temporal-worker-controller",
        "--version", CONTROLLER_CHART_VERSION, "--namespace", CONTROLLER_NAMESPACE,
        "--set", "certmanager.install=false",
        "--set-json", f"workerResourceTemplate.allowedResources={ALLOWED_RESOURCES}",
        "--wait", "--timeout", "5m",
    )  # fmt: skip


def install(*sets: str) -> None:
    """Install or upgrade the release; no --wait: its readiness is the controller's to
    report, on the WorkerDeployments (watched below)."""
    flags = [flag for s in (*BASE, *sets) for flag in ("--set", s)]
    result = helm(
        "upgrade", "--install", RELEASE, "charts/rtw", *flags, "--set-json", DATABASE_PEER,
        "--timeout", "8m", timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def controller_release(worker_controller: None) -> Iterator[None]:
    install("workerDefaults.env.RTW_E2E_REVISION=a")
    try:
        yield
    finally:
        helm("uninstall", RELEASE, "--wait")


def worker_deployment(custom: Any) -> dict[str, Any]:
    found: dict[str, Any] = custom.get_namespaced_custom_object(
        "temporal.io", "v1alpha1", NAMESPACE, "workerdeployments", ORCHESTRATION
    )
    return found


async def until(probe: Any, what: str, *, timeout: float = 600) -> Any:
    """Poll `probe()` every 3 s until it returns something true; fail naming `what`."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                if value := probe():
                    return value
                await asyncio.sleep(3)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def current_build(custom: Any) -> str:
    status = worker_deployment(custom).get("status", {})
    build: str = (status.get("currentVersion") or {}).get("buildID", "")
    return build


def versioned_deployments(apps: Any) -> dict[str, Any]:
    """The controller's Deployments of the orchestration WorkerDeployment, by build id."""
    listed = apps.list_namespaced_deployment(
        NAMESPACE, label_selector=f"temporal.io/deployment-name={ORCHESTRATION}"
    ).items
    return {d.metadata.labels["temporal.io/build-id"]: d for d in listed}


async def test_the_controller_keeps_a_build_until_its_order_completed_then_sunsets_it(
    controller_release: None, temporal: Client, apps: Any, custom: Any
) -> None:
    build_a = await until(lambda: current_build(custom), "build A current")
    order = OrderInput.model_validate(
        {
            "order_id": f"e2e-c-{uuid.uuid4().hex[:8]}",
            "customer_id": "c-e2e",
            "currency": "USD",
            "payment_method": "pm_card_visa",
            "items": [{"sku": "sku-2", "quantity": 100, "unit_price_cents": 1200}],
        }
    )
    orchestration = queue_name(TaskQueue.ORCHESTRATION, prefix=PREFIX)
    handle = (await start_order(temporal, order, task_queue=orchestration)).handle
    async with asyncio.timeout(180):
        while True:
            if (await order_status(temporal, order.order_id)).state is OrderState.AWAITING_APPROVAL:
                break
            await asyncio.sleep(1)

    # A new pod template is a new build: the controller gates it, ramps it, makes it current.
    install("workerDefaults.env.RTW_E2E_REVISION=b")
    build_b = await until(lambda: (b := current_build(custom)) != build_a and b, "build B current")
    gate = await temporal.get_workflow_handle(
        f"test-{TEMPORAL_NAME}:{build_b}-{orchestration}"
    ).describe()
    assert gate.status is not None
    assert gate.status.name == "COMPLETED"

    # A's Deployment stays, with its pods, while the order pinned to it is open: past the
    # scale-down delay, it still runs.
    await asyncio.sleep(SCALEDOWN_SECONDS + 30)
    kept = versioned_deployments(apps)
    assert set(kept) >= {build_a, build_b}
    assert kept[build_a].spec.replicas >= 1
    assert kept[build_a].status.ready_replicas

    await handle.execute_update(APPROVE, ApprovalRequest(reviewer="e2e", reason="ok"))
    result: OrderStatus = await handle.result()
    assert result.state is OrderState.COMPLETED
    assert set(await builds_of_workflow_tasks(handle)) == {build_a}

    # Drained now: scaled to zero after the scale-down delay, deleted after the delete delay.
    def scaled_down() -> bool:
        found = versioned_deployments(apps).get(build_a)
        return found is None or found.spec.replicas == 0

    await until(scaled_down, "build A scaled down")
    await until(lambda: build_a not in versioned_deployments(apps), "build A deleted")
    assert set(versioned_deployments(apps)) == {build_b}
    assert kubectl("-n", NAMESPACE, "get", "workerdeployment", ORCHESTRATION, "-o", "name")
