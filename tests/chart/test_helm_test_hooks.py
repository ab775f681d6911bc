"""`helm test` as every supported Helm runs it (3.14 and later, 4.x): the test hooks are Pods
named after their hooks, kept until the next run, and NOTES and the README say what they check.

How Helm treats test hooks, from its source (github.com/helm/helm):
- `helm test --logs` reads, for every test hook, the logs of the Pod whose name is the hook's
  name (pkg/action/release_testing.go GetPodLogs, `Pods(ns).GetLogs(h.Name)`, v3.14.0 commit
  3fc9f4b2 through v4.2.4 commit 3900f434): a Job's pod is `<name>-xxxxx`, so a Job hook makes
  `--logs` fail after a passing test.
- After v4.2.4 GetPodLogs skips hooks whose kind is not Pod (commit 1a1ec6e3, PR #32129): a Job
  hook then prints no logs at all.
- Helm 3 deletes `hook-succeeded` hooks inside execHook (pkg/action/hooks.go, v3.14.0), before
  `--logs` reads them; `before-hook-creation` keeps a run's Pod until the next run.
- Helm waits for a hook Pod to succeed or fail (v3.14.0 pkg/kube/client.go waitForPodSuccess;
  v4.2.4 pkg/kube/statuswait.go WatchUntilReady with its custom Pod status reader).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ._helm import CHART, NAMESPACE, RELEASE, Manifest, helm_binary, load, render, run_helm

pytestmark = pytest.mark.chart

VALUE_FILES = sorted((CHART / "ci").glob("*-values.yaml")) + sorted(
    (CHART / "examples").glob("*.yaml")
)


@pytest.fixture(scope="module")
def helm() -> str:
    return helm_binary()


def hooks_of(objs: list[Manifest]) -> list[Manifest]:
    return [o for o in objs if o["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"]


@pytest.mark.parametrize("values", VALUE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_test_hook_is_a_pod_named_after_its_hook_and_kept_for_logs(
    helm: str, values: Path
) -> None:
    objs = load(render(helm, [values]))
    for hook in hooks_of(objs):
        name = hook["metadata"]["name"]
        assert hook["kind"] == "Pod", name  # what `helm test --logs` can read
        annotations = hook["metadata"]["annotations"]
        policies = annotations["helm.sh/hook-delete-policy"].split(",")
        assert policies == ["before-hook-creation"], name  # never hook-succeeded
        spec = hook["spec"]
        assert spec["restartPolicy"] == "Never", name  # one attempt: its exit code is the result
        assert spec["activeDeadlineSeconds"] > 0, name
        assert len(name) <= 63, name
    assert not [o for o in objs if o["kind"] == "Job" and o["metadata"].get(
        "annotations", {}).get("helm.sh/hook") == "test"]  # fmt: skip


def test_the_ping_runs_before_the_order_through_the_gateway(helm: str) -> None:
    """Helm runs test hooks (and prints their logs) by weight, then name."""
    objs = load(render(helm, [CHART / "ci" / "gateway-values.yaml"]))
    order = sorted(
        hooks_of(objs),
        key=lambda o: (int(o["metadata"]["annotations"]["helm.sh/hook-weight"]),
                       o["metadata"]["name"]),
    )  # fmt: skip
    assert [o["metadata"]["name"] for o in order] == [
        f"{RELEASE}-rtw-test",
        f"{RELEASE}-rtw-gateway-test",
    ]
    (ping,) = order[0]["spec"]["containers"]
    assert ping["args"][0] == "ping"


def test_no_test_pods_when_tests_are_off(helm: str) -> None:
    assert hooks_of(load(render(helm, sets=["tests.enabled=false"]))) == []


def _notes(helm: str, *sets: str) -> str:
    result = run_helm(
        helm, "install", RELEASE, str(CHART), "--dry-run=client", "-n", NAMESPACE, sets=list(sets)
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split("NOTES:", 1)[1]


def test_notes_say_exactly_what_helm_test_checks(helm: str) -> None:
    ping = _notes(helm)
    assert "helm test runs `rtw ping`: every task queue has a polling worker" in ping
    assert "no money moves, nothing is stored" in ping
    saga = _notes(helm, "tests.fullSaga=true")
    assert "helm test runs one OrderSaga end to end (tests.fullSaga)" in saga
    assert "captures money on that card" in saga
    assert "rtw ping" not in saga
    gateway = _notes(helm, "gateway.enabled=true", "gateway.auth.existingSecret=t")
    assert "It then orders once through the gateway's API" in gateway
    off = _notes(helm, "tests.enabled=false")
    assert "no test Pods are rendered, so helm test checks nothing" in off


def test_the_chart_readme_says_what_helm_test_checks() -> None:
    readme = (CHART / "README.md").read_text()
    section = readme.split("### What `helm test` checks", 1)[1].split("\n#", 1)[0]
    for needle in ("`rtw ping`", "tests.fullSaga", "gateway", "Pod", "--logs"):
        assert needle in section, needle
