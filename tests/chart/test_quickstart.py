"""The Kubernetes steps of the README and of the chart's README work when copied: every
namespace, Secret (and key), values file and variable they rely on is created by an earlier
step, each `helm install/upgrade` renders with exactly its flags and files, and `helm test` has
a test Pod to run."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._helm import CHART, REPO, helm_binary
from ._quickstart import StepError, Steps, bash_blocks, section

pytestmark = pytest.mark.chart


@pytest.fixture(scope="module")
def helm() -> str:
    return helm_binary()


def test_the_readme_kubernetes_steps_work_when_copied(helm: str, tmp_path: Path) -> None:
    text = section((REPO / "README.md").read_text(), "## Install on Kubernetes")
    blocks = bash_blocks(text)
    assert blocks, "the README's Kubernetes section has its steps in ```bash blocks"
    steps = Steps(helm, tmp_path)
    for block in blocks:
        steps.run(block)
    assert steps.rendered, "the steps install the chart"
    assert "rtw" in steps.releases
    # The Secrets the install needs were created by the steps themselves.
    assert {("rtw", "temporal-cloud-api-key"), ("rtw", "rtw-db")} <= set(steps.secrets)


def test_the_chart_readme_steps_work_when_copied_top_to_bottom(helm: str, tmp_path: Path) -> None:
    """Install, the shared database, the gateway, then the upgrade runbook (retain.yaml from
    the running release's record, a new build, `rtw deployment status` on its Deployment)."""
    steps = Steps(helm, tmp_path)
    for block in bash_blocks((CHART / "README.md").read_text()):
        steps.run(block)
    rendered = "\n".join(steps.rendered)
    assert "examples/temporal-cloud.yaml" in rendered
    assert "gateway.enabled=true" in rendered
    assert "image.tag=1.1.0" in rendered
    final = steps.releases["rtw"].objects
    builds = {o["metadata"]["labels"].get("rtw/build") for o in final if o["kind"] == "Deployment"}
    assert {"1-1-0", "0-1-0"} <= builds  # the runbook kept the build it replaced


# --- the check itself can fail --------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            "kubectl create namespace rtw\n"
            "helm upgrade --install rtw charts/rtw -n rtw "
            "-f charts/rtw/examples/temporal-cloud.yaml",
            "needs Secret temporal-cloud-api-key in namespace rtw, which no step creates",
        ),
        (
            "kubectl create namespace rtw\n"
            "kubectl -n rtw create secret generic rtw-db --from-literal=url=x\n"
            "helm upgrade --install rtw charts/rtw -n rtw --set database.existingSecret=rtw-db",
            "reads key 'database-url' of Secret rtw-db",
        ),
        (
            "kubectl create namespace rtw\n"
            "helm upgrade --install rtw charts/rtw -n rtw -f my-values.yaml",
            "my-values.yaml does not exist and no step creates it",
        ),
        (
            "helm upgrade --install rtw charts/rtw -n rtw",
            "namespace rtw is not created",
        ),
        (
            "kubectl create namespace rtw\n"
            "helm upgrade --install rtw charts/rtw -n rtw --set image.tag=$RTW_VERSION",
            "uses $RTW_VERSION, which no step sets",
        ),
        (
            "kubectl create namespace rtw\n"
            "helm upgrade --install rtw charts/rtw -n rtw --set tests.enabled=false\n"
            "helm test rtw -n rtw --logs",
            "the release renders no test Pod",
        ),
        (
            "kubectl create namespace rtw\nhelm upgrade rtw charts/rtw -n rtw --reuse-values",
            "release rtw is not installed",
        ),
        (
            "kubectl create namespace rtw\n"
            "helm upgrade --install rtw charts/rtw -n rtw --set versioning.enable=true",
            "does not render",
        ),
    ],
    ids=[
        "secret-never-created",
        "secret-key-missing",
        "values-file-missing",
        "namespace-missing",
        "variable-unset",
        "helm-test-without-pods",
        "upgrade-without-install",
        "schema-refusal",
    ],
)
def test_a_step_that_relies_on_something_missing_fails(
    helm: str, tmp_path: Path, block: str, message: str
) -> None:
    with pytest.raises(StepError, match=message.replace("$", r"\$").replace(".", r"\.")):
        Steps(helm, tmp_path).run(block)
