"""Worker Versioning in the chart (on by default): one set of worker Deployments per build, the
hooks that promote a build and guard upgrades and rollbacks, retained builds that keep the pods
they were deployed with, and clear failures for build ids that cannot work."""

from __future__ import annotations

import shutil
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.integration.builds import guard_args, promote_args

from ._helm import (
    CHART,
    K8S_VERSIONS,
    NAMESPACE,
    QUEUES,
    RELEASE,
    Manifest,
    documents,
    helm_binary,
    load,
    render,
    retain_yaml,
    run_helm,
    template,
)

pytestmark = pytest.mark.chart

#: Release 1 ran build 1.0.0; release 2 rolls out 2.0.0 and keeps 1.0.0 (its recorded entry).
FIRST = ["image.tag=1.0.0", "workers.orchestration.replicaCount=3", "database.allowPodLocal=true"]
SECOND = ["image.tag=2.0.0", "versioning.drainingReplicas=2"]


@pytest.fixture(scope="module")
def helm() -> str:
    return helm_binary()


@pytest.fixture(scope="module")
def retain(helm: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """retain.yaml as release 1 recorded it (what the runbook passes to the next upgrade)."""
    path = tmp_path_factory.mktemp("retain") / "retain.yaml"
    path.write_text(retain_yaml(load(render(helm, sets=FIRST))))
    return path


def rainbow_text(helm: str, retain: Path, *extra: str) -> str:
    """Release 2: release 1's values (as --reuse-values keeps them), its retain.yaml, 2.0.0."""
    return render(helm, values=[retain], sets=[*FIRST, *SECOND, *extra])


@pytest.fixture(scope="module")
def rainbow(helm: str, retain: Path) -> list[Manifest]:
    return load(rainbow_text(helm, retain))


def deployments(objs: list[Manifest]) -> dict[str, Manifest]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == "Deployment"}


def config(objs: list[Manifest], name: str) -> dict[str, str]:
    (found,) = [o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] == name]
    data: dict[str, str] = found["data"]
    return data


def container(pod_owner: Manifest) -> Manifest:
    containers: list[Manifest] = pod_owner["spec"]["template"]["spec"]["containers"]
    return containers[0]


def job(objs: list[Manifest], name: str) -> Manifest:
    (found,) = [
        o for o in objs if o["kind"] == "Job" and o["metadata"]["name"] == f"{RELEASE}-rtw-{name}"
    ]
    return found


def notes(helm: str, *sets: str, values: tuple[Path, ...] = ()) -> str:
    result = run_helm(
        helm, "install", RELEASE, str(CHART), "--dry-run=client", "-n", NAMESPACE,
        values=values, sets=list(sets),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.split("NOTES:", 1)[1]


# --- on by default, unversioned opt-in ----------------------------------------------------


def test_versioning_is_on_by_default_and_every_example_follows_it(helm: str) -> None:
    default = yaml.safe_load((CHART / "values.yaml").read_text())
    assert default["versioning"]["enabled"] is True
    files = [*(CHART / "ci").glob("*-values.yaml"), *(CHART / "examples").glob("*.yaml")]
    opted_out = [
        p.name
        for p in files
        if ((yaml.safe_load(p.read_text()) or {}).get("versioning") or {}).get("enabled") is False
    ]
    assert opted_out == ["unversioned-values.yaml"]  # the one file that renders the opt-out
    objs = load(render(helm))
    assert set(deployments(objs)) == {f"{RELEASE}-rtw-{q}-0-1-0" for q in QUEUES}
    for queue in QUEUES:
        env = config(objs, f"{RELEASE}-rtw-{queue}-0-1-0")
        assert env["RTW_WORKER_VERSIONING"] == "true"
        assert env["RTW_BUILD_ID"] == "0.1.0"
        assert env["RTW_DEPLOYMENT_NAME"] == RELEASE
        assert env["RTW_PROMOTE_ON_START"] == "never"  # the promote hook decides
    assert job(objs, "promote")


def test_the_unversioned_opt_in_runs_one_deployment_per_queue_and_warns(helm: str) -> None:
    objs = load(render(helm, [CHART / "ci" / "unversioned-values.yaml"]))
    assert set(deployments(objs)) == {f"{RELEASE}-rtw-{q}" for q in QUEUES}
    for dep in deployments(objs).values():
        assert "rtw/build" not in dep["spec"]["selector"]["matchLabels"]
    for queue in QUEUES:
        env = config(objs, f"{RELEASE}-rtw-{queue}")
        assert env["RTW_WORKER_VERSIONING"] == "false"
        assert "RTW_BUILD_ID" not in env
    assert not [o for o in objs if o["metadata"]["name"].endswith(("-promote", "-builds"))]
    # Switching versioning off removes every build: the guard keeps none.
    args = container(job(objs, "upgrade-guard"))["args"]
    assert "--keep" not in args
    text = notes(helm, "versioning.enabled=false")
    assert "WARNING: Worker Versioning is off (versioning.enabled=false)" in text
    assert "every upgrade replaces the code under every open order" in text
    assert "WARNING: Worker Versioning is off" not in notes(helm)


# --- builds, and what a retained build keeps ------------------------------------------------


def test_each_build_has_its_own_deployments_and_config(rainbow: list[Manifest]) -> None:
    found = deployments(rainbow)
    assert set(found) == {f"{RELEASE}-rtw-{q}-{b}" for q in QUEUES for b in ("2-0-0", "1-0-0")}
    for queue in QUEUES:
        new = found[f"{RELEASE}-rtw-{queue}-2-0-0"]
        old = found[f"{RELEASE}-rtw-{queue}-1-0-0"]
        assert container(new)["image"] == "rtw:2.0.0"
        assert container(old)["image"] == "rtw:1.0.0"
        for dep, build in ((new, "2.0.0"), (old, "1.0.0")):
            name = dep["metadata"]["name"]
            assert container(dep)["envFrom"] == [{"configMapRef": {"name": name}}]
            env = config(rainbow, name)
            assert env["RTW_BUILD_ID"] == build
            attributes = env["OTEL_RESOURCE_ATTRIBUTES"].split(",")
            assert f"service.version={build}" in attributes  # each build reports its own
            labels = dep["spec"]["template"]["metadata"]["labels"]
            assert labels["app.kubernetes.io/version"] == build
            assert "helm.sh/chart" not in labels  # a chart upgrade never restarts a build
            assert all(labels[k] == v for k, v in dep["spec"]["selector"]["matchLabels"].items())
        assert old["spec"]["replicas"] == 2  # versioning.drainingReplicas
        assert new["spec"]["selector"] != old["spec"]["selector"]  # never fight over pods
    assert found[f"{RELEASE}-rtw-orchestration-2-0-0"]["spec"]["replicas"] == 3
    assert found[f"{RELEASE}-rtw-orchestration-1-0-0"]["metadata"]["annotations"] == {
        "rtw/build-id": "1.0.0",
        "rtw/build-role": "retained (draining)",
    }


def test_the_record_keeps_every_build_with_its_settings(
    rainbow: list[Manifest], retain: Path
) -> None:
    first = yaml.safe_load(retain.read_text())["versioning"]["retainedBuilds"]
    (entry,) = first
    assert (entry["buildId"], entry["repository"], entry["tag"]) == ("1.0.0", "rtw", "1.0.0")
    assert entry["workers"]["orchestration"]["replicaCount"] == 3
    assert set(entry["workers"]) == set(QUEUES)
    second = yaml.safe_load(retain_yaml(rainbow))["versioning"]["retainedBuilds"]
    assert [e["buildId"] for e in second] == ["2.0.0", "1.0.0"]
    assert second[1] == entry  # a retained build's entry passes through unchanged


def test_a_retained_build_keeps_the_pods_it_was_deployed_with(helm: str, retain: Path) -> None:
    """Changing the current build's worker values (env, extra env, resources, probes, drain,
    concurrency, scheduling) and moving to the next image leaves every object of the
    retained build byte for byte as it was; the current build's objects do change."""
    before = documents(rainbow_text(helm, retain))
    after = documents(
        rainbow_text(
            helm,
            retain,
            "image.tag=2.1.0",
            "workerDefaults.env.FEATURE_X=on",
            "workerDefaults.extraEnv[0].name=EXTRA",
            "workerDefaults.extraEnv[0].value=enabled",
            "workerDefaults.resources.limits.memory=1Gi",
            "workerDefaults.livenessProbe.periodSeconds=20",
            "workerDefaults.readinessProbe.failureThreshold=5",
            "workerDefaults.gracefulShutdownSeconds=90",
            "workers.payments.maxConcurrentActivities=7",
            "workers.payments.nodeSelector.pool=payments",
            "workers.orchestration.lifecycle.preStop.sleep.seconds=3",
        )
    )
    retained = {key for key in before if key[1].endswith("-1-0-0")}
    assert {kind for kind, _ in retained} == {"Deployment", "ConfigMap"}
    assert len(retained) == 2 * len(QUEUES)
    for key in retained:
        assert after[key] == before[key], key
    current_before = {k: v for k, v in before.items() if k[1].endswith("-2-0-0")}
    assert current_before
    assert not set(current_before) & set(after)  # the current build's objects: now 2-1-0
    payments = load(after[("ConfigMap", f"{RELEASE}-rtw-payments-2-1-0")])[0]["data"]
    assert (payments["FEATURE_X"], payments["RTW_MAX_CONCURRENT_ACTIVITIES"]) == ("on", "7")


def test_a_chart_upgrade_leaves_a_retained_builds_pods_alone(
    helm: str, retain: Path, tmp_path: Path
) -> None:
    """A newer chart (version and appVersion) renders the same pod template and environment
    for a retained build: only object metadata may carry the chart's version."""
    newer = tmp_path / "rtw"
    shutil.copytree(CHART, newer)
    chart = yaml.safe_load((newer / "Chart.yaml").read_text())
    chart |= {"version": "9.9.9", "appVersion": "9.9.9"}
    (newer / "Chart.yaml").write_text(yaml.safe_dump(chart))
    sets = [*FIRST, *SECOND]
    args = ("template", RELEASE, "--namespace", NAMESPACE)
    old = run_helm(helm, *args, str(CHART), values=[retain], sets=sets)
    new = run_helm(helm, *args, str(newer), values=[retain], sets=sets)
    assert old.returncode == new.returncode == 0, old.stderr + new.stderr
    old_objs, new_objs = load(old.stdout), load(new.stdout)
    for queue in QUEUES:
        name = f"{RELEASE}-rtw-{queue}-1-0-0"
        assert deployments(old_objs)[name]["spec"] == deployments(new_objs)[name]["spec"]
        assert config(old_objs, name) == config(new_objs, name)


def test_a_retained_build_without_its_record_fails_and_says_where_the_record_is(
    helm: str,
) -> None:
    result = template(helm, sets=["image.tag=2.0.0", "versioning.retainedBuilds[0].buildId=1.0.0"])
    assert result.returncode != 0
    assert "versioning.retainedBuilds[0] (build 1.0.0) records no worker settings" in result.stderr
    assert f"get configmap {RELEASE}-rtw-builds -o jsonpath=" in result.stderr
    assert f"helm get manifest {RELEASE} -n {NAMESPACE} --revision N" in result.stderr


def test_a_queue_a_retained_build_did_not_run_gets_no_deployment_of_it(
    helm: str, tmp_path: Path
) -> None:
    path = tmp_path / "retain.yaml"
    path.write_text(
        retain_yaml(load(render(helm, sets=[*FIRST, "workers.payments.enabled=false"])))
    )
    objs = load(render(helm, values=[path], sets=[*FIRST, *SECOND]))
    names = set(deployments(objs))
    assert f"{RELEASE}-rtw-payments-2-0-0" in names
    assert f"{RELEASE}-rtw-payments-1-0-0" not in names
    assert f"{RELEASE}-rtw-orchestration-1-0-0" in names


def test_autoscalers_follow_the_current_build(helm: str, retain: Path) -> None:
    objs = load(rainbow_text(helm, retain, "workers.payments.autoscaling.enabled=true"))
    (hpa,) = [o for o in objs if o["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-rtw-payments-2-0-0"
    current = deployments(objs)[f"{RELEASE}-rtw-payments-2-0-0"]
    assert "replicas" not in current["spec"]  # the HPA owns it
    assert deployments(objs)[f"{RELEASE}-rtw-payments-1-0-0"]["spec"]["replicas"] == 2


def test_rainbow_manifests_lint_and_validate(
    helm: str, retain: Path, rainbow: list[Manifest]
) -> None:
    sets = [*FIRST, *SECOND, "versioning.rampPercentage=10"]
    lint = run_helm(helm, "lint", "--strict", str(CHART), values=[retain], sets=sets)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    for obj in rainbow:
        kubernetes_validate.validate(obj, f"{K8S_VERSIONS[-1]}.0", strict=True)


# --- the hooks ------------------------------------------------------------------------------


def test_the_promote_hook_runs_after_install_upgrade_and_rollback(helm: str, retain: Path) -> None:
    objs = load(rainbow_text(helm, retain, "workers.notifications.enabled=false"))
    promote = job(objs, "promote")
    annotations = promote["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "post-install,post-upgrade,post-rollback"
    assert annotations["helm.sh/hook-weight"] == "5"
    assert annotations["helm.sh/hook-output-log-policy"] == "hook-failed"
    # The same command tests/integration/test_upgrade_guard.py runs on the dev server.
    args = container(promote)["args"]
    assert args == promote_args("2.0.0", wait=300, queues=["orchestration", "payments"])
    env = {e["name"]: e["value"] for e in container(promote)["env"]}
    assert env["TEMPORAL_ADDRESS"]
    assert env["RTW_DEPLOYMENT_NAME"] == RELEASE
    pod = promote["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == f"{RELEASE}-rtw"  # post-* hooks: the release's account


def test_a_ramp_percentage_ramps_instead(helm: str, retain: Path) -> None:
    objs = load(rainbow_text(helm, retain, "versioning.rampPercentage=25"))
    args = container(job(objs, "promote"))["args"]
    assert args[args.index("--ramp") + 1] == "25"


def test_the_guard_runs_before_upgrades_and_rollbacks_with_the_builds_kept(
    rainbow: list[Manifest],
) -> None:
    weights = {}
    for event in ("upgrade", "rollback"):
        guard = job(rainbow, f"{event}-guard")
        annotations = guard["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == f"pre-{event}"
        assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
        assert annotations["helm.sh/hook-output-log-policy"] == "hook-failed"  # helm >= 3.18
        weights[event] = int(annotations["helm.sh/hook-weight"])
        assert guard["spec"]["backoffLimit"] == 0
        pod = guard["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "default"  # pre-* hook: no chart account needed
        assert pod["automountServiceAccountToken"] is False
        args = container(guard)["args"]
        # The same command tests/integration/test_upgrade_guard.py runs on the dev server.
        assert args[: args.index("--fix")] == guard_args("2.0.0", ["1.0.0"])
        fix = args[args.index("--fix") + 1]
        assert "{builds}" in fix
        assert f"get configmap {RELEASE}-rtw-builds" in fix
    assert (
        "helm rollback restores values that do not keep {builds}"
        in (container(job(rainbow, "rollback-guard"))["args"][-1])
    )
    # The guard runs before the migration changes anything.
    migrate_weight = -5
    assert weights["upgrade"] < migrate_weight


def test_allow_stranding_passes_the_override_and_notes_warn(helm: str, retain: Path) -> None:
    objs = load(rainbow_text(helm, retain, "versioning.allowStranding=true"))
    for event in ("upgrade", "rollback"):
        assert "--allow-stranding" in container(job(objs, f"{event}-guard"))["args"]
    assert "--allow-stranding" not in container(job(load(render(helm)), "upgrade-guard"))["args"]
    warned = notes(helm, "versioning.allowStranding=true")
    assert "WARNING: versioning.allowStranding=true overrides the guard" in warned
    assert "allowStranding" not in notes(helm)


def test_notes_say_how_to_keep_builds_and_which_can_go(helm: str, retain: Path) -> None:
    text = notes(helm, *FIRST, *SECOND, values=(retain,))
    assert 'Retained build "1.0.0" (2 replica(s) per worker' in text
    assert f"exec deploy/{RELEASE}-rtw-orchestration-2-0-0 -- rtw deployment status" in text
    assert "which retained builds have drained and can" in text
    record = f"get configmap {RELEASE}-rtw-builds -o jsonpath='{{.data.retain\\.yaml}}'"
    assert record in text
    assert "--reuse-values -f retain.yaml --set image.tag=NEW" in text
    assert "`helm rollback` re-promotes the build of the revision it restores" in text


def test_keda_scales_on_the_current_builds_version(helm: str, retain: Path) -> None:
    sets = ["workers.payments.keda.enabled=true", "queuePrefix=eu."]
    objs = load(rainbow_text(helm, retain, *sets))
    (scaled,) = [o for o in objs if o["kind"] == "ScaledObject"]
    meta = scaled["spec"]["triggers"][0]["metadata"]
    assert meta["workerDeploymentName"] == f"{RELEASE}-eu-payments"  # `.` becomes `-`
    assert meta["workerDeploymentBuildId"] == "2.0.0"
    assert meta["taskQueue"] == "eu.payments"


# --- what fails -----------------------------------------------------------------------------

RECORDED = "versioning.retainedBuilds[{i}].workers.payments.replicaCount=1"


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            ["versioning.retainedBuilds[0].buildId=2.0.0", RECORDED.format(i=0)],
            'versioning.retainedBuilds[0]: build id "2.0.0" is listed twice (also in '
            "versioning.buildId",
        ),
        (
            [
                "versioning.retainedBuilds[0].buildId=1.0.0",
                RECORDED.format(i=0),
                "versioning.retainedBuilds[1].buildId=1.0.0",
                RECORDED.format(i=1),
            ],
            'versioning.retainedBuilds[1]: build id "1.0.0" is listed twice',
        ),
        (
            [
                "versioning.retainedBuilds[0].buildId=1.0.0",
                RECORDED.format(i=0),
                "versioning.retainedBuilds[1].buildId=1-0-0",
                RECORDED.format(i=1),
            ],
            "gives the same object names as versioning.retainedBuilds[0]",
        ),
        (["versioning.retainedBuilds[0].tag=0.9.0"], "retainedBuilds/0"),  # buildId required
        (
            ["image.digest=sha256:" + "a" * 64],
            "versioning.buildId is empty and the image is pulled by digest",
        ),
        (["versioning.retainedBuilds[0].buildId=v 1"], "retainedBuilds/0/buildId"),
        (["versioning.rampPercentage=0"], "rampPercentage"),
        (["versioning.retainedBuilds[0].workers.payments.replicas=1"], "replicas"),
    ],
)
def test_unusable_build_ids_fail_clearly(helm: str, sets: list[str], message: str) -> None:
    result = template(helm, sets=["image.tag=2.0.0", *sets])
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
