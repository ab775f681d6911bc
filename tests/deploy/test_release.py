"""The release workflow's invariants, checked without GitHub: it runs for v* tags only, each job
holds only the permissions it uses, nothing is built before the tag, pyproject.toml and the chart
agree, the image is multi-arch, signed by digest, with an SBOM and provenance, and the packaged
chart's default image is the released one. (actionlint and SHA pins: test_workflow.py.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart._helm import helm_binary

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / ".github" / "workflows" / "release.yml"
CHECK = ROOT / "deploy" / "tools" / "release-version.py"
PACKAGE = ROOT / "deploy" / "tools" / "package-chart.sh"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
#: What a job that publishes to ghcr.io, signs keylessly and attests needs; nothing more.
PUBLISHER = {"contents": "read", "packages": "write", "id-token": "write", "attestations": "write"}


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(RELEASE.read_text())
    return data


def step(job: dict[str, Any], uses: str) -> dict[str, Any]:
    """The job's one step that uses the action `uses` (owner/name)."""
    steps: list[dict[str, Any]] = job["steps"]
    (found,) = [s for s in steps if s.get("uses", "").startswith(f"{uses}@")]
    return found


def runs(job: dict[str, Any]) -> str:
    return "\n".join(s.get("run", "") for s in job["steps"])


def check(*args: str, root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), *args, "--root", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_runs_for_version_tags_only(workflow: dict[Any, Any]) -> None:
    # PyYAML reads the key `on` as True (YAML 1.1).
    assert workflow[True] == {"push": {"tags": ["v*"]}}
    assert workflow["concurrency"]["cancel-in-progress"] is False, "never cut a release short"


def test_each_job_holds_only_what_it_uses(workflow: dict[Any, Any]) -> None:
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    assert set(jobs) == {"version", "image", "chart"}
    assert jobs["version"]["permissions"] == {"contents": "read"}
    assert jobs["image"]["permissions"] == PUBLISHER
    assert jobs["chart"]["permissions"] == PUBLISHER


def test_nothing_is_built_before_the_tag_and_the_versions_agree(workflow: dict[Any, Any]) -> None:
    jobs = workflow["jobs"]
    assert 'deploy/tools/release-version.py --tag "${GITHUB_REF_NAME}"' in runs(jobs["version"])
    outputs = jobs["version"]["outputs"]
    for name in ("image", "chart"):
        needs = jobs[name]["needs"]
        assert "version" in needs
        assert jobs[name]["env"]["VERSION"] == "${{ needs.version.outputs.version }}"
        assert jobs[name]["env"]["IMAGE"] == "${{ needs.version.outputs.image }}"
    assert set(outputs) == {"version", "image", "chart-repository"}
    assert "image" in jobs["chart"]["needs"], "the chart's default image exists before the chart"


def test_image_is_multi_arch_signed_with_sbom_and_provenance(workflow: dict[Any, Any]) -> None:
    job = workflow["jobs"]["image"]
    build = step(job, "docker/build-push-action")["with"]
    assert set(build["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert build["push"] is True
    assert build["tags"] == "${{ env.IMAGE }}:${{ env.VERSION }}"
    assert "org.opencontainers.image.version=${{ env.VERSION }}" in build["labels"]
    step(job, "docker/setup-qemu-action")  # arm64 on an amd64 runner
    digest = "${{ steps.build.outputs.digest }}"
    sbom = step(job, "anchore/sbom-action")["with"]
    assert sbom["image"] == f"${{{{ env.IMAGE }}}}@{digest}"
    assert sbom["format"] == "spdx-json"
    script = runs(job)
    assert 'cosign sign --yes "${IMAGE}@${DIGEST}"' in script
    assert 'cosign attest --yes --type spdxjson --predicate "rtw-${VERSION}.spdx.json"' in script
    assert sbom["output-file"] == "rtw-${{ env.VERSION }}.spdx.json"
    sign = next(s for s in job["steps"] if "cosign sign" in s.get("run", ""))
    assert sign["env"]["DIGEST"] == digest
    provenance = step(job, "actions/attest-build-provenance")["with"]
    assert provenance["subject-name"] == "${{ env.IMAGE }}"
    assert provenance["subject-digest"] == digest
    assert provenance["push-to-registry"] is True


def test_chart_is_packaged_with_pinned_helm_pushed_signed_and_attested(
    workflow: dict[Any, Any],
) -> None:
    job = workflow["jobs"]["chart"]
    script = runs(job)
    assert "bash deploy/tools/install-helm.sh" in script
    assert '"${HELM_VERSION}"' in script, "checks it is the pinned helm"
    assert 'bash deploy/tools/package-chart.sh "${VERSION}" "${IMAGE}" dist' in script
    assert '.tools/bin/helm push "dist/rtw-${VERSION}.tgz" "${CHART_REPOSITORY}"' in script
    for line in script.splitlines():
        assert not line.lstrip().startswith("helm "), "the runner's helm is never used"
    assert job["env"]["CHART_REPOSITORY"] == "${{ needs.version.outputs.chart-repository }}"
    sign = next(s for s in job["steps"] if "cosign sign" in s.get("run", ""))
    assert sign["env"]["CHART"] == (
        "${{ steps.push.outputs.name }}@${{ steps.push.outputs.digest }}"
    )
    provenance = step(job, "actions/attest-build-provenance")["with"]
    assert provenance["subject-digest"] == "${{ steps.push.outputs.digest }}"
    assert provenance["push-to-registry"] is True


def test_the_tag_of_the_current_version_passes() -> None:
    result = check("--tag", f"v{VERSION}", "--owner", "Acme-Org")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"version={VERSION}",
        "image=ghcr.io/acme-org/rtw",
        "chart-repository=oci://ghcr.io/acme-org/charts",
    ]


@pytest.mark.parametrize("tag", ["1.2.3", "v1.2", "v01.2.3", "v1.2.3+build.5", "release-1", ""])
def test_a_tag_that_is_not_v_semver_is_refused(tag: str) -> None:
    result = check("--tag", tag, "--owner", "acme")
    assert result.returncode == 1
    assert "is not v<SemVer>" in result.stderr
    assert result.stdout == "", "no outputs, so no later job runs"


def test_a_tag_ahead_of_the_files_is_refused_naming_each_file() -> None:
    result = check("--tag", "v99.0.0", "--owner", "acme")
    assert result.returncode == 1
    assert f"pyproject.toml: version is {VERSION}" in result.stderr
    assert f"charts/rtw/Chart.yaml: version is {VERSION}" in result.stderr
    assert f"charts/rtw/Chart.yaml: appVersion is {VERSION}" in result.stderr
    assert result.stdout == ""


def tree(tmp_path: Path, *, chart: str | None = None, values: str | None = None) -> Path:
    """A copy of the files the check reads, optionally with another Chart.yaml/values.yaml."""
    (tmp_path / "charts" / "rtw").mkdir(parents=True)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    source = ROOT / "charts" / "rtw"
    (tmp_path / "charts/rtw/Chart.yaml").write_text(chart or (source / "Chart.yaml").read_text())
    (tmp_path / "charts/rtw/values.yaml").write_text(values or (source / "values.yaml").read_text())
    return tmp_path


def test_a_chart_whose_app_version_lags_is_refused(tmp_path: Path) -> None:
    chart = (ROOT / "charts/rtw/Chart.yaml").read_text()
    lagging = chart.replace(f'appVersion: "{VERSION}"', 'appVersion: "0.0.9"')
    assert lagging != chart
    result = check("--tag", f"v{VERSION}", "--owner", "acme", root=tree(tmp_path, chart=lagging))
    assert result.returncode == 1
    assert "charts/rtw/Chart.yaml: appVersion is 0.0.9" in result.stderr
    assert "pyproject.toml" not in result.stderr.split("but:")[1].split("release:")[0]


@pytest.mark.parametrize(("tag", "passes"), [("", True), (VERSION, True), ("latest", False)])
def test_the_default_image_tag_is_the_release(tmp_path: Path, tag: str, passes: bool) -> None:
    values = (ROOT / "charts/rtw/values.yaml").read_text()
    changed = values.replace('  tag: ""\n', f'  tag: "{tag}"\n', 1)
    assert changed.count(f'tag: "{tag}"') >= 1
    result = check("--tag", f"v{VERSION}", "--owner", "acme", root=tree(tmp_path, values=changed))
    assert (result.returncode == 0) is passes, result.stderr
    if not passes:
        assert f"image.tag is {tag}" in result.stderr


@pytest.mark.chart
@pytest.mark.parametrize("version", [VERSION, "1.4.0-rc.1"])
def test_the_packaged_chart_runs_the_released_image(tmp_path: Path, version: str) -> None:
    helm = helm_binary()
    before = (ROOT / "charts/rtw/values.yaml").read_bytes()
    result = subprocess.run(
        ["bash", str(PACKAGE), version, "ghcr.io/acme/rtw", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "HELM": helm},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    package = tmp_path / f"rtw-{version}.tgz"
    assert result.stdout.strip() == str(package)
    assert (ROOT / "charts/rtw/values.yaml").read_bytes() == before, "the checkout is untouched"
    with tarfile.open(package) as archive:
        member = archive.extractfile("rtw/Chart.yaml")
        assert member is not None
        chart = yaml.safe_load(member.read())
    assert (chart["version"], chart["appVersion"]) == (version, version)
    rendered = subprocess.run(
        [
            helm,
            "template",
            "rtw",
            str(package),
            "--namespace",
            "rtw",
            "--set",
            "tests.enabled=true",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    images = {
        container["image"]
        for doc in yaml.safe_load_all(rendered)
        if doc and doc["kind"] in ("Deployment", "Job", "Pod")
        for container in (doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"])[
            "containers"
        ]
    }
    assert images == {f"ghcr.io/acme/rtw:{version}"}


@pytest.mark.chart
def test_packaging_refuses_an_image_name_ghcr_would_refuse(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(PACKAGE), VERSION, "ghcr.io/Acme/rtw", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "lower-case image repository" in result.stderr
    assert not list(tmp_path.iterdir())
