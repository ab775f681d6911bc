"""Helpers for the kind suite: the cluster, helm, port-forwards and SQL in the test PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
E2E_SCRIPT = REPO / "deploy" / "kind" / "e2e.sh"
CLUSTER = "rtw-e2e"
CONTEXT = f"kind-{CLUSTER}"
NAMESPACE = "rtw"
RELEASE = "rtw"
WORKERS = ("orchestration", "payments", "notifications")
NO_CLUSTER = "no Kubernetes cluster (kind) on this machine"


def kind_available() -> bool:
    """kind and kubectl are installed and kind can reach its container engine."""
    if shutil.which("kind") is None or shutil.which("kubectl") is None:
        return False
    probe = subprocess.run(
        ["kind", "get", "clusters"], capture_output=True, text=True, check=False, timeout=30
    )
    return probe.returncode == 0


def e2e(phase: str, *, timeout: float = 1500) -> None:
    """Run `deploy/kind/e2e.sh up|down`; its output goes to the test log."""
    result = subprocess.run(["bash", str(E2E_SCRIPT), phase], check=False, timeout=timeout)
    assert result.returncode == 0, f"deploy/kind/e2e.sh {phase} failed (see its output above)"


def helm(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """The repo's pinned helm against the kind cluster."""
    return subprocess.run(
        [str(REPO / ".tools" / "bin" / "helm"), *args, "--kube-context", CONTEXT,
         "--namespace", NAMESPACE],
        capture_output=True, text=True, check=False, timeout=timeout,
    )  # fmt: skip


def kubectl(*args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        ["kubectl", "--context", CONTEXT, *args],
        capture_output=True, text=True, check=False, timeout=timeout,
    )  # fmt: skip
    assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
    return result.stdout


def sql(query: str) -> list[list[str]]:
    """Rows of a query in the workers' database (psql in the test PostgreSQL's pod)."""
    out = kubectl(
        "-n", NAMESPACE, "exec", "deploy/rtw-postgres", "--", "sh", "-c",
        f'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tA -F "|" -c "{query}"',
    )  # fmt: skip
    return [line.split("|") for line in out.splitlines() if line.strip()]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def port_forward(namespace: str, service: str, remote: int) -> Iterator[int]:
    """`kubectl port-forward svc/SERVICE` on a free local port, for the block's duration."""
    local = _free_port()
    proc = subprocess.Popen(
        ["kubectl", "--context", CONTEXT, "-n", namespace, "port-forward", f"svc/{service}",
         f"{local}:{remote}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", local)) == 0:
                    break
            assert proc.poll() is None, f"port-forward {service} exited"
            assert time.monotonic() < deadline, f"port-forward {service} not ready"
            time.sleep(0.2)
        yield local
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def deployment_fingerprints(apps: Any) -> dict[str, tuple[int, str]]:
    """Per worker: the Deployment's generation and its pod template (what a rollout changes)."""
    found = {}
    for worker in WORKERS:
        (dep,) = apps.list_namespaced_deployment(
            NAMESPACE, label_selector=f"app.kubernetes.io/component={worker}"
        ).items
        template = json.dumps(dep.spec.template.to_dict(), sort_keys=True, default=str)
        found[worker] = (dep.metadata.generation, template)
    return found
