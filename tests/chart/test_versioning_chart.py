"""Rainbow mode (`versioning.enabled`): one set of worker Deployments per build, a hook Job that
promotes the new build, and clear failures for build ids that cannot work."""

from __future__ import annotations

import kubernetes_validate
import pytest

from ._helm import (
    CHART,
    K8S_VERSIONS,
    QUEUES,
    RELEASE,
    Manifest,
    by_kind,
    helm_binary,
    load,
    render,
    run_helm,
    template,
)

pytestmark = pytest.mark.chart

#: Build 2.0.0 is being rolled out; 1.0.0 still runs pinned workflows.
RAINBOW = [
    "versioning.enabled=true",
    "image.tag=2.0.0",
    "versioning.retainedBuilds[0].buildId=1.0.0",
    "versioning.drainingReplicas=2",
    "workers.orchestration.replicaCount=3",
    "database.allowPodLocal=true",
]


@pytest.fixture(scope="module")
def helm() -> str:
    return helm_binary()


@pytest.fixture(scope="module")
def rainbow(helm: str) -> list[Manifest]:
    return load(render(helm, sets=RAINBOW))


def deployments(objs: list[Manifest]) -> dict[str, Manifest]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == "Deployment"}


def container(dep: Manifest) -> Manifest:
    containers: list[Manifest] = dep["spec"]["template"]["spec"]["containers"]
    return containers[0]


def env_list(dep: Manifest) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container(dep).get("env", [])}


def promote_job(objs: list[Manifest]) -> Manifest:
    (job,) = [
        o for o in objs if o["kind"] == "Job" and o["metadata"]["name"] == f"{RELEASE}-rtw-promote"
    ]
    return job


def test_without_versioning_the_workers_run_unversioned_as_before(helm: str) -> None:
    objs = load(render(helm))
    assert set(deployments(objs)) == {f"{RELEASE}-rtw-{q}" for q in QUEUES}
    for dep in deployments(objs).values():
        assert "rtw/build" not in dep["spec"]["selector"]["matchLabels"]
        assert "RTW_BUILD_ID" not in env_list(dep)
    for config in by_kind(objs, "ConfigMap").values():
        assert config["data"]["RTW_WORKER_VERSIONING"] == "false"
    assert not [o for o in objs if o["metadata"]["name"].endswith("-promote")]


def test_each_build_has_its_own_deployments(rainbow: list[Manifest]) -> None:
    found = deployments(rainbow)
    assert set(found) == {f"{RELEASE}-rtw-{q}-{b}" for q in QUEUES for b in ("2-0-0", "1-0-0")}
    for queue in QUEUES:
        new = found[f"{RELEASE}-rtw-{queue}-2-0-0"]
        old = found[f"{RELEASE}-rtw-{queue}-1-0-0"]
        assert container(new)["image"] == "rtw:2.0.0"
        assert container(old)["image"] == "rtw:1.0.0"
        assert env_list(new)["RTW_BUILD_ID"] == "2.0.0"
        assert env_list(old)["RTW_BUILD_ID"] == "1.0.0"
        assert old["spec"]["replicas"] == 2  # versioning.drainingReplicas
        assert new["spec"]["selector"] != old["spec"]["selector"]  # never fight over pods
        for dep in (new, old):
            labels = dep["spec"]["template"]["metadata"]["labels"]
            assert all(labels[k] == v for k, v in dep["spec"]["selector"]["matchLabels"].items())
    assert found[f"{RELEASE}-rtw-orchestration-2-0-0"]["spec"]["replicas"] == 3


def test_versioned_workers_name_their_deployment_and_never_promote_themselves(
    rainbow: list[Manifest],
) -> None:
    for config in by_kind(rainbow, "ConfigMap").values():
        assert config["data"]["RTW_WORKER_VERSIONING"] == "true"
        assert config["data"]["RTW_DEPLOYMENT_NAME"] == RELEASE
        assert config["data"]["RTW_PROMOTE_ON_START"] == "never"


def test_the_hook_promotes_the_new_build_on_every_enabled_queue(helm: str) -> None:
    objs = load(render(helm, sets=[*RAINBOW, "workers.notifications.enabled=false"]))
    job = promote_job(objs)
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    args = container({"spec": job["spec"]})["args"]
    assert args[:5] == ["deployment", "promote", "2.0.0", "--wait", "300"]
    assert "--ramp" not in args
    queues = [args[i + 1] for i, a in enumerate(args) if a == "--queue"]
    assert sorted(queues) == ["orchestration", "payments"]
    env = {e["name"]: e["value"] for e in container({"spec": job["spec"]})["env"]}
    assert env["TEMPORAL_ADDRESS"]
    assert env["RTW_DEPLOYMENT_NAME"] == RELEASE


def test_a_ramp_percentage_ramps_instead(helm: str) -> None:
    objs = load(render(helm, sets=[*RAINBOW, "versioning.rampPercentage=25"]))
    args = container({"spec": promote_job(objs)["spec"]})["args"]
    assert args[args.index("--ramp") + 1] == "25"


def test_autoscalers_follow_the_current_build(helm: str) -> None:
    objs = load(render(helm, sets=[*RAINBOW, "workers.payments.autoscaling.enabled=true"]))
    (hpa,) = [o for o in objs if o["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-rtw-payments-2-0-0"
    current = deployments(objs)[f"{RELEASE}-rtw-payments-2-0-0"]
    assert "replicas" not in current["spec"]  # the HPA owns it
    assert deployments(objs)[f"{RELEASE}-rtw-payments-1-0-0"]["spec"]["replicas"] == 2


def test_rainbow_manifests_lint_and_validate(helm: str, rainbow: list[Manifest]) -> None:
    sets = [*RAINBOW, "versioning.rampPercentage=10", "workers.payments.autoscaling.enabled=true"]
    lint = run_helm(helm, "lint", "--strict", str(CHART), sets=sets)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    for obj in rainbow:
        kubernetes_validate.validate(obj, f"{K8S_VERSIONS[-1]}.0", strict=True)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            ["versioning.retainedBuilds[0].buildId=2.0.0"],
            'versioning.retainedBuilds[0]: build id "2.0.0" is listed twice',
        ),
        (
            ["versioning.retainedBuilds[1].buildId=1.0.0"],
            'versioning.retainedBuilds[1]: build id "1.0.0" is listed twice',
        ),
        (
            ["versioning.retainedBuilds[1].buildId=1-0-0"],
            "gives the same object names as versioning.retainedBuilds[0]",
        ),
        (
            ["versioning.retainedBuilds[1].tag=0.9.0"],
            "retainedBuilds/1",  # the schema: buildId is required
        ),
        (
            ["image.digest=sha256:" + "a" * 64],
            "versioning.buildId is empty and the image is pulled by digest",
        ),
        (["versioning.retainedBuilds[0].buildId=v 1"], "retainedBuilds/0/buildId"),
        (["versioning.rampPercentage=0"], "rampPercentage"),
    ],
)
def test_unusable_build_ids_fail_clearly(helm: str, sets: list[str], message: str) -> None:
    result = template(helm, sets=[*RAINBOW, *sets])
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_each_build_reports_its_own_version_in_traces(rainbow: list[Manifest]) -> None:
    found = deployments(rainbow)
    for queue in QUEUES:
        for slug, version in (("2-0-0", "2.0.0"), ("1-0-0", "1.0.0")):
            attributes = env_list(found[f"{RELEASE}-rtw-{queue}-{slug}"])[
                "OTEL_RESOURCE_ATTRIBUTES"
            ]
            assert f"service.version={version}" in attributes.split(",")


def test_the_next_upgrade_leaves_a_retained_builds_pods_alone(helm: str) -> None:
    def checksums(tag: str) -> dict[str, str]:
        objs = load(render(helm, sets=[*RAINBOW, f"image.tag={tag}"]))
        return {
            name: dep["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            for name, dep in deployments(objs).items()
            if name.endswith("-1-0-0")
        }

    assert checksums("2.0.0") == checksums("2.1.0")  # 1.0.0 keeps running as it was
