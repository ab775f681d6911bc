"""The GitHub workflow: actionlint-clean, actions pinned by SHA, least privilege, and a kind job
over the oldest and newest Kubernetes versions that keeps its logs on failure."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
LINTER = ROOT / "deploy" / "tools" / "actionlint.cjs"
INSTALLED = ROOT / ".tools" / "actionlint" / "package" / "main.wasm"


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return data


def test_actionlint_is_clean() -> None:
    assert shutil.which("node"), "node runs actionlint (WebAssembly): apt-get install nodejs"
    if not INSTALLED.exists():
        subprocess.run(["bash", str(ROOT / "deploy/tools/install-actionlint.sh")], check=True)
    result = subprocess.run(
        ["node", str(LINTER), str(WORKFLOW)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_action_is_pinned_by_commit_sha(workflow: dict[Any, Any]) -> None:
    uses = [s["uses"] for job in workflow["jobs"].values() for s in job["steps"] if "uses" in s]
    assert uses
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), f"{ref} is not pinned by SHA"
    text = WORKFLOW.read_text()
    for ref in uses:
        assert re.search(re.escape(ref) + r" # v\d", text), f"{ref}: say which version it is"


def test_least_privilege_and_one_run_per_ref(workflow: dict[Any, Any]) -> None:
    assert workflow["permissions"] == {"contents": "read"}
    assert "github.ref" in workflow["concurrency"]["group"]
    assert workflow["concurrency"]["cancel-in-progress"] is True


def test_unit_job_leaves_the_cluster_suite_to_the_kind_job(workflow: dict[Any, Any]) -> None:
    test = workflow["jobs"]["test"]
    ci = next(s for s in test["steps"] if s.get("run") == "bash .ci/run")
    assert ci["env"]["PYTEST_ARGS"] == '-m "not k8s"'


def test_kind_job_covers_oldest_and_newest_and_keeps_logs(workflow: dict[Any, Any]) -> None:
    kind = workflow["jobs"]["kind-e2e"]
    images = kind["strategy"]["matrix"]["node_image"]
    versions = [re.search(r"v(\d+\.\d+)", i).group(1) for i in images]  # type: ignore[union-attr]
    chart = yaml.safe_load((ROOT / "charts/rtw/Chart.yaml").read_text())
    assert versions[0] == chart["kubeVersion"].lstrip(">=").rsplit(".", 1)[0].split(".0-")[0]
    assert len(set(versions)) == 2
    assert all("@sha256:" in i for i in images), "node images pinned by digest"
    steps = kind["steps"]
    run = next(s for s in steps if "pytest -m k8s" in s.get("run", ""))
    assert run["env"]["KIND_NODE_IMAGE"] == "${{ matrix.node_image }}"
    assert run["env"]["KEEP_CLUSTER"] == "1"
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "failure()"
    assert any("kind export logs" in s.get("run", "") for s in steps if s.get("if") == "failure()")
