"""Helpers for the chart tests: locate helm/checkov, render the chart, index rendered objects."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "rtw"
RELEASE = "demo"
NAMESPACE = "rtw"
QUEUES = ("orchestration", "payments", "notifications")
# Kubernetes versions the chart supports and validates against (all that kubernetes-validate
# 1.37 ships from the chart's kubeVersion floor up). Keep in sync with charts/rtw/README.md.
K8S_VERSIONS = ("1.29", "1.30", "1.31", "1.32", "1.33", "1.34", "1.35", "1.36", "1.37")
CRD_KINDS = {
    "ScaledObject",
    "TriggerAuthentication",
    "ServiceMonitor",
    "WorkerDeployment",
    "WorkerResourceTemplate",
    "Connection",
}
INSTALL_HINT = "run `bash deploy/tools/install-helm.sh` (CI always does)"

Manifest = dict[str, Any]


def helm_binary() -> str:
    """RTW_HELM, else <repo>/.tools/bin/helm, else helm on PATH; fail (never skip) if none."""
    env = os.environ.get("RTW_HELM")
    if env:
        return env
    local = REPO / ".tools" / "bin" / "helm"
    if local.exists():
        return str(local)
    found = shutil.which("helm")
    if found:
        return found
    pytest.fail(f"helm not found (RTW_HELM, .tools/bin/helm, PATH): {INSTALL_HINT}")


def checkov_binary() -> str:
    """<repo>/.tools/checkov-venv/bin/checkov; fail if missing."""
    path = REPO / ".tools" / "checkov-venv" / "bin" / "checkov"
    if not path.exists():
        pytest.fail(f"checkov not found at {path}: run `bash deploy/tools/install-checkov.sh`")
    return str(path)


def run_helm(
    helm: str, *args: str, values: Sequence[Path] = (), sets: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Run helm with value files and --set pairs; never raises on a non-zero exit."""
    cmd = [helm, *args]
    for path in values:
        cmd += ["-f", str(path)]
    for pair in sets:
        cmd += ["--set", pair]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)


def template(
    helm: str, values: Sequence[Path] = (), sets: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """`helm template` of the chart as release demo in namespace rtw."""
    return run_helm(
        helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, values=values, sets=sets
    )


def render(helm: str, values: Sequence[Path] = (), sets: Sequence[str] = ()) -> str:
    """Rendered manifests as text; fails the test with helm's message on error."""
    result = template(helm, values, sets)
    if result.returncode != 0:
        pytest.fail(f"helm template failed: {result.stderr}")
    return result.stdout


def load(text: str) -> list[Manifest]:
    """Parse a multi-document manifest stream, dropping empty documents."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def component(obj: Manifest) -> str | None:
    labels: dict[str, str] = obj["metadata"].get("labels", {})
    return labels.get("app.kubernetes.io/component")


def by_kind(objs: list[Manifest], kind: str) -> dict[str, Manifest]:
    """Objects of one kind keyed by their component label (or name when there is none)."""
    return {component(o) or o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def pod_specs(objs: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    """(object name, pod spec) of every workload (Deployments and the helm test Job)."""
    for obj in objs:
        if obj["kind"] in {"Deployment", "Job", "StatefulSet", "DaemonSet", "Pod"}:
            spec = obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]
            yield f"{obj['kind']}/{obj['metadata']['name']}", spec


def env_of(objs: list[Manifest], queue: str) -> dict[str, str]:
    """The non-secret env of a worker (its ConfigMap's data)."""
    data: dict[str, str] = by_kind(objs, "ConfigMap")[queue]["data"]
    return data


def retain_yaml(objs: list[Manifest]) -> str:
    """retain.yaml of the release's `-builds` ConfigMap: the values that keep its builds."""
    (record,) = [
        o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-builds")
    ]
    text: str = record["data"]["retain.yaml"]
    return text


def documents(text: str) -> dict[tuple[str, str], str]:
    """Each rendered object's exact text, keyed by (kind, name): for byte-for-byte comparisons."""
    found = {}
    for chunk in text.split("\n---\n"):
        doc = yaml.safe_load(chunk)
        if doc:
            found[(doc["kind"], doc["metadata"]["name"])] = chunk.strip()
    return found
