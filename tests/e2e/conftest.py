"""The kind cluster for the k8s suite: brought up once by deploy/kind/e2e.sh, torn down after.

On a machine without kind the whole suite is collected and skips with one reason."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from temporalio.client import Client

from services.runtime.config import TemporalSettings
from services.runtime.connection import connect
from tests.e2e.cluster import CONTEXT, NO_CLUSTER, e2e, kind_available, port_forward

_HAS_CLUSTER = kind_available()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "controller: needs Temporal's worker controller, which the test installs from its "
        "published charts (GitHub's kind-e2e-controller job)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every k8s test skips, with one reason, where there is no cluster."""
    if _HAS_CLUSTER:
        return
    skip = pytest.mark.skip(reason=NO_CLUSTER)
    for item in items:
        if "k8s" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def kind_cluster() -> Iterator[None]:
    """`e2e.sh up` once per session; `e2e.sh down` afterwards unless KEEP_CLUSTER=1."""
    e2e("up")
    try:
        yield
    finally:
        if os.environ.get("KEEP_CLUSTER") != "1":
            e2e("down", timeout=300)


def _kube_client() -> Any:
    """The `kubernetes` client module, configured for the kind cluster's context."""
    from kubernetes import client, config

    config.load_kube_config(context=CONTEXT)  # type: ignore[no-untyped-call]  # untyped library
    return client


@pytest.fixture(scope="session")
def apps(kind_cluster: None) -> Any:
    """The Kubernetes AppsV1 API of the kind cluster."""
    return _kube_client().AppsV1Api()


@pytest.fixture(scope="session")
def core(kind_cluster: None) -> Any:
    """The Kubernetes CoreV1 API of the kind cluster."""
    return _kube_client().CoreV1Api()


@pytest.fixture(scope="session")
def custom(kind_cluster: None) -> Any:
    """The Kubernetes CustomObjects API of the kind cluster (the controller's resources)."""
    return _kube_client().CustomObjectsApi()


@pytest.fixture(scope="session")
async def temporal(kind_cluster: None) -> AsyncIterator[Client]:
    """A client of the in-cluster Temporal dev server, through a port-forward."""
    with port_forward("temporal", "temporal-dev", 7233) as port:
        yield await connect(TemporalSettings(address=f"127.0.0.1:{port}"))
