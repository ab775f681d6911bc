"""versioning.mode=controller: the chart hands versioned rollouts to Temporal's worker
controller. Per queue a WorkerDeployment with the plain Deployment's pod template, one shared
Connection that references the Secrets, WorkerResourceTemplates for HPA, KEDA and PDB, no
promote or guard hooks; every object fits the controller's CRDs at the pinned release."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from services.contracts import TaskQueue
from services.runtime.versioning import VersioningSettings, deployment_name

from ._controller_crds import (
    CONTROLLER_CHART_VERSION,
    CONTROLLER_VERSION,
    SCHEMAS,
    cel_problems,
)
from ._helm import (
    CHART,
    K8S_VERSIONS,
    NAMESPACE,
    QUEUES,
    RELEASE,
    Manifest,
    helm_binary,
    load,
    render,
    template,
)

pytestmark = pytest.mark.chart

CONTROLLER = ["versioning.mode=controller"]
CONTROLLER_CASE = CHART / "ci" / "controller-values.yaml"
#: Value files whose pod templates are compared between the two modes.
SAME_POD_CASES = [
    CHART / "ci" / "default-values.yaml",
    CHART / "ci" / "extensions-values.yaml",
    CHART / "ci" / "codec-values.yaml",
    CHART / "ci" / "cloud-keda-values.yaml",
    CHART / "examples" / "self-hosted.yaml",
    CHART / "examples" / "temporal-cloud.yaml",
]
#: What the controller injects into every container of a WorkerDeployment's pods
#: (internal/k8s/deployments.go ApplyControllerPodSpecModifications, v1.8.1), so the chart's
#: template leaves it out; and what it mounts itself (the mTLS Secret as `temporal-tls`).
INJECTED_ENV = {
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_TLS_SERVER_NAME",
    "TEMPORAL_API_KEY_FILE",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
}
CREDENTIAL_VOLUMES = {"temporal-api-key", "temporal-tls"}


@pytest.fixture(scope="module")
def helm() -> str:
    return helm_binary()


@pytest.fixture(scope="module")
def controller(helm: str) -> list[Manifest]:
    return load(render(helm, [CONTROLLER_CASE]))


def of_kind(objs: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def hook_of(obj: Manifest) -> str:
    annotations: dict[str, str] = obj["metadata"].get("annotations") or {}
    return annotations.get("helm.sh/hook", "")


# --- what is rendered ------------------------------------------------------------------------


def test_one_workerdeployment_per_queue_a_connection_and_resource_templates(
    controller: list[Manifest],
) -> None:
    deployments = of_kind(controller, "WorkerDeployment")
    assert set(deployments) == {f"{RELEASE}-{q}" for q in QUEUES}
    assert set(of_kind(controller, "Connection")) == {f"{RELEASE}-rtw-temporal"}
    templates = {
        name: (o["spec"]["workerDeploymentRef"]["name"], o["spec"]["template"]["kind"])
        for name, o in of_kind(controller, "WorkerResourceTemplate").items()
    }
    assert templates == {
        f"{RELEASE}-rtw-orchestration-hpa": (f"{RELEASE}-orchestration", "HorizontalPodAutoscaler"),
        f"{RELEASE}-rtw-orchestration-pdb": (f"{RELEASE}-orchestration", "PodDisruptionBudget"),
        f"{RELEASE}-rtw-payments-keda": (f"{RELEASE}-payments", "ScaledObject"),
        f"{RELEASE}-rtw-payments-pdb": (f"{RELEASE}-payments", "PodDisruptionBudget"),
    }  # notifications runs one pod: no PDB, as in the hooks mode
    # The controller makes the per-build Deployments, HPAs, ScaledObjects and PDBs itself.
    kinds = {o["kind"] for o in controller}
    assert not kinds & {"Deployment", "HorizontalPodAutoscaler", "ScaledObject"}
    assert "PodDisruptionBudget" not in kinds
    # KEDA's credentials are one shared TriggerAuthentication, as in the hooks mode.
    assert set(of_kind(controller, "TriggerAuthentication")) == {f"{RELEASE}-rtw-temporal"}


def test_no_promote_or_guard_hooks_and_no_build_record(controller: list[Manifest]) -> None:
    hooks = {(o["kind"], o["metadata"]["name"]): hook_of(o) for o in controller if hook_of(o)}
    # Left: the schema migration (database) and the helm test Pod; nothing that routes builds.
    assert hooks == {
        ("NetworkPolicy", f"{RELEASE}-rtw-migrate"): "pre-install,pre-upgrade",
        ("Job", f"{RELEASE}-rtw-migrate"): "pre-install,pre-upgrade",
        ("Pod", f"{RELEASE}-rtw-test"): "test",
    }
    names = {o["metadata"]["name"] for o in controller}
    assert not {f"{RELEASE}-rtw-{n}" for n in ("promote", "guard", "builds")} & names
    policies = {
        o["metadata"]["labels"]["app.kubernetes.io/component"]
        for o in controller
        if o["kind"] == "NetworkPolicy"
    }
    assert policies == {*QUEUES, "migrate", "test"}


def test_rollout_gate_sunset_and_connection_of_each_workerdeployment(
    controller: list[Manifest],
) -> None:
    for queue in QUEUES:
        spec = of_kind(controller, "WorkerDeployment")[f"{RELEASE}-{queue}"]["spec"]
        rollout = spec["rollout"]
        assert rollout["strategy"] == "Progressive"
        assert rollout["steps"] == [
            {"rampPercentage": 10, "pauseDuration": "1m"},
            {"rampPercentage": 50, "pauseDuration": "2m"},
        ]
        if queue == "orchestration":
            assert rollout["gate"] == {
                "workflowType": "Ping",
                "input": {"caller": "temporal-worker-controller", "timeout_seconds": 300},
            }
        else:  # activities only: no workflow task queue to run a gate on
            assert "gate" not in rollout
        assert spec["sunset"] == {"scaledownDelay": "30m", "deleteDelay": "2h"}
        assert spec["workerOptions"] == {
            "connectionRef": {"name": f"{RELEASE}-rtw-temporal"},
            "temporalNamespace": "shop.a1b2c",
        }
        # autoscaled workers leave replicas to their HPA/KEDA; the others keep replicaCount
        assert ("replicas" in spec) is (queue == "notifications")
        assert spec["template"]["spec"]["containers"][0]["image"] == "ghcr.io/example/rtw:1.1.0"


def test_the_default_steps_are_ten_then_fifty_percent_with_pauses(helm: str) -> None:
    objs = load(render(helm, sets=CONTROLLER))
    for obj in of_kind(objs, "WorkerDeployment").values():
        rollout = obj["spec"]["rollout"]
        assert rollout["strategy"] == "Progressive"
        assert [s["rampPercentage"] for s in rollout["steps"]] == [10, 50]
        assert all(s["pauseDuration"] for s in rollout["steps"])
        assert obj["spec"]["sunset"] == {"scaledownDelay": "1h", "deleteDelay": "24h"}
        assert "unsafeCustomBuildID" not in obj["spec"]["workerOptions"]


def test_a_build_id_in_values_becomes_the_custom_build_id(helm: str) -> None:
    objs = load(render(helm, sets=[*CONTROLLER, "versioning.buildId=1.1.0"]))
    for obj in of_kind(objs, "WorkerDeployment").values():
        assert obj["spec"]["workerOptions"]["unsafeCustomBuildID"] == "1.1.0"


def test_resource_templates_leave_the_per_build_fields_to_the_controller(
    controller: list[Manifest],
) -> None:
    templates = {
        name.removeprefix(f"{RELEASE}-rtw-"): o["spec"]["template"]
        for name, o in of_kind(controller, "WorkerResourceTemplate").items()
    }
    hpa = templates["orchestration-hpa"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert "metadata" not in hpa
    for name in ("orchestration-pdb", "payments-pdb"):
        pdb = templates[name]
        assert pdb["apiVersion"] == "policy/v1"
        assert pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": {}}}
    keda = templates["payments-keda"]["spec"]
    assert keda["scaleTargetRef"] == {}
    (trigger,) = keda["triggers"]
    meta = trigger["metadata"]
    assert meta["endpoint"] == "shop.a1b2c.tmprl.cloud:7233"
    assert meta["taskQueue"] == "payments"
    assert meta["queueTypes"] == "activity"
    for key in ("namespace", "workerDeploymentName", "workerDeploymentBuildId"):
        assert meta[key] == ""  # the controller's opt-in sentinel: it fills them per build
    assert trigger["authenticationRef"] == {"name": f"{RELEASE}-rtw-temporal"}


# --- the Connection and the Secrets --------------------------------------------------------


def test_the_connection_references_the_api_key_secret(controller: list[Manifest]) -> None:
    (connection,) = of_kind(controller, "Connection").values()
    assert connection["spec"] == {
        "hostPort": "shop.a1b2c.tmprl.cloud:7233",
        "apiKeySecretRef": {"name": "temporal-cloud-api-key", "key": "api-key"},
    }
    assert not of_kind(controller, "Secret"), "the chart never holds a credential"


def test_the_connection_references_the_mtls_secret(helm: str) -> None:
    objs = load(render(helm, [CHART / "examples" / "self-hosted.yaml"], CONTROLLER))
    (connection,) = of_kind(objs, "Connection").values()
    assert connection["spec"] == {
        "hostPort": "temporal-frontend.temporal.svc.cluster.local:7233",
        "tls": {"serverName": "temporal-frontend.temporal.svc.cluster.local"},
        "mutualTLSSecretRef": {"name": "rtw-temporal-client-tls"},
    }
    assert not of_kind(objs, "Secret")
    for obj in of_kind(objs, "WorkerDeployment").values():
        (container,) = obj["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        # the controller mounts the whole Secret at /etc/temporal/tls: the CA is its ca.crt
        assert env["TEMPORAL_TLS_SERVER_CA_CERT_PATH"] == "/etc/temporal/tls/ca.crt"
        assert not INJECTED_ENV & set(env)
        assert not {v["name"] for v in obj["spec"]["template"]["spec"]["volumes"]} & (
            CREDENTIAL_VOLUMES
        )


def test_the_workers_find_every_queues_temporal_deployment(helm: str) -> None:
    """The controller names a queue's Worker Deployment `<k8s namespace>/<WorkerDeployment>`;
    RTW_DEPLOYMENT_NAME in the pods makes rtw derive exactly those names for every queue."""
    for extra in ([], ["queuePrefix=eu.", "versioning.deploymentName=shop"]):
        objs = load(render(helm, sets=[*CONTROLLER, *extra]))
        for obj in of_kind(objs, "WorkerDeployment").values():
            (container,) = obj["spec"]["template"]["spec"]["containers"]
            env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
            queue = TaskQueue(container["args"][1])
            stem = VersioningSettings(deployment_name=env["RTW_DEPLOYMENT_NAME"])
            injected = f"{NAMESPACE}/{obj['metadata']['name']}"
            assert deployment_name(stem, queue, prefix=env.get("RTW_QUEUE_PREFIX", "")) == (
                injected
            )


# --- the same pod template as the plain Deployment -----------------------------------------


def _pod(template_: Manifest, config: dict[str, str] | None, *, mtls: bool) -> Manifest:
    """A pod template reduced to what both modes must share: the chart's environment as one
    map (ConfigMap in the hooks mode, inline in controller mode) without the build-specific
    and controller-injected variables, and without the build label, the config checksum and
    the chart's own Temporal credential volumes."""
    pod = copy.deepcopy(template_)
    pod["metadata"]["labels"].pop("rtw/build", None)
    annotations = pod["metadata"].pop("annotations", {})
    annotations.pop("checksum/config", None)
    if annotations:
        pod["metadata"]["annotations"] = annotations
    spec = pod["spec"]
    (container,) = spec["containers"]
    env = dict(config or {})
    listed = []
    for item in container.pop("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            listed.append(item)
    # with mTLS the controller also sets TEMPORAL_TLS=true
    for name in (*INJECTED_ENV, "RTW_BUILD_ID", "RTW_DEPLOYMENT_NAME", *(["TEMPORAL_TLS"] * mtls)):
        env.pop(name, None)
    env.pop("TEMPORAL_TLS_SERVER_CA_CERT_PATH", None)
    container["env"] = {"values": env, "from": listed}
    container["envFrom"] = [e for e in container.get("envFrom", []) if "configMapRef" not in e]
    container["volumeMounts"] = [
        m for m in container["volumeMounts"] if m["name"] not in CREDENTIAL_VOLUMES
    ]
    spec["volumes"] = [v for v in spec["volumes"] if v["name"] not in CREDENTIAL_VOLUMES]
    for constraint in spec.get("topologySpreadConstraints", []):
        constraint["labelSelector"]["matchLabels"].pop("rtw/build", None)
    return pod


@pytest.mark.parametrize("case", SAME_POD_CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_pod_template_is_the_plain_deployments(helm: str, case: Path) -> None:
    plain = load(render(helm, [case]))
    ruled = load(render(helm, [case], CONTROLLER))
    stem = yaml.safe_load(case.read_text()).get("versioning", {}).get("deploymentName") or RELEASE
    checked = 0
    for obj in plain:
        if (
            obj["kind"] != "Deployment"
            or obj["metadata"]["labels"].get("app.kubernetes.io/component") not in QUEUES
        ):
            continue
        queue = obj["metadata"]["labels"]["app.kubernetes.io/component"]
        config = _config(plain, obj)
        twin = of_kind(ruled, "WorkerDeployment")[f"{stem}-{queue}"]
        (connection,) = of_kind(ruled, "Connection").values()
        mtls = "mutualTLSSecretRef" in connection["spec"]
        assert _pod(twin["spec"]["template"], None, mtls=mtls) == _pod(
            obj["spec"]["template"], config, mtls=mtls
        )
        checked += 1
    assert checked == len(QUEUES)


def _config(objs: list[Manifest], deployment: Manifest) -> dict[str, str]:
    (ref,) = [
        e["configMapRef"]["name"]
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        if "configMapRef" in e
    ]
    (found,) = [o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] == ref]
    data: dict[str, str] = found["data"]
    return data


def test_the_pod_template_is_a_valid_pod_template_on_every_version(
    controller: list[Manifest],
) -> None:
    """kubernetes-validate does not know the controller's kinds: the pod template goes in a
    Deployment, and each resource template's object as the controller fills it in."""
    errors = []
    for obj in controller:
        if obj["kind"] == "WorkerDeployment":
            labels = obj["spec"]["template"]["metadata"]["labels"]
            checked: Manifest = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": obj["metadata"]["name"]},
                "spec": {"selector": {"matchLabels": labels}, "template": obj["spec"]["template"]},
            }
        elif obj["kind"] == "WorkerResourceTemplate" and obj["spec"]["template"]["kind"] != (
            "ScaledObject"
        ):
            checked = copy.deepcopy(obj["spec"]["template"])
            checked["metadata"] = {"name": "filled-by-the-controller"}
            spec = checked["spec"]
            if "scaleTargetRef" in spec:
                spec["scaleTargetRef"] = {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "x",
                }
            if "selector" in spec:
                spec["selector"]["matchLabels"] = {"temporal.io/build-id": "x"}
        else:
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(checked, f"{version}.0", strict=True)
            except kubernetes_validate.ValidationError as exc:
                errors.append(f"{obj['kind']}/{obj['metadata']['name']} {version}: {exc}")
    assert errors == []


# --- the controller's CRDs -----------------------------------------------------------------


def _controller_objects(objs: list[Manifest]) -> list[Manifest]:
    return [o for o in objs if o["apiVersion"].startswith("temporal.io/")]


@pytest.fixture(scope="module")
def controller_renders(helm: str) -> dict[str, list[Manifest]]:
    cases = {
        "ci/controller-values.yaml": ([CONTROLLER_CASE], []),
        "defaults": ([], CONTROLLER),
        "examples/self-hosted.yaml": ([CHART / "examples" / "self-hosted.yaml"], CONTROLLER),
        "examples/scale-payments.yaml": ([CHART / "examples" / "scale-payments.yaml"], CONTROLLER),
        "all-at-once": ([], [*CONTROLLER, "versioning.controller.strategy=AllAtOnce"]),
    }
    return {name: load(render(helm, files, sets)) for name, (files, sets) in cases.items()}


def test_every_object_fits_the_pinned_controllers_crds(
    controller_renders: dict[str, list[Manifest]],
) -> None:
    assert CONTROLLER_VERSION == "v1.8.1"
    problems = []
    for name, objs in controller_renders.items():
        for obj in _controller_objects(objs):
            where = f"{name} {obj['kind']}/{obj['metadata']['name']}"
            for error in jsonschema.Draft202012Validator(SCHEMAS[obj["kind"]]).iter_errors(obj):
                problems.append(f"{where}: {error.json_path}: {error.message}")
            problems += [f"{where}: {p}" for p in cel_problems(obj)]
    assert problems == []


def test_the_crd_checks_catch_what_the_controller_refuses(controller: list[Manifest]) -> None:
    deployment = copy.deepcopy(of_kind(controller, "WorkerDeployment")[f"{RELEASE}-payments"])
    deployment["spec"]["rollout"]["steps"][0]["pauseDuration"] = "10s"
    deployment["spec"]["rollout"]["strategy"] = "Sometimes"
    errors = list(
        jsonschema.Draft202012Validator(SCHEMAS["WorkerDeployment"]).iter_errors(deployment)
    )
    assert [e.json_path for e in errors] == ["$.spec.rollout.strategy"]
    assert cel_problems(deployment) == ["pause duration must be at least 30s"]
    hpa = copy.deepcopy(
        of_kind(controller, "WorkerResourceTemplate")[f"{RELEASE}-rtw-orchestration-hpa"]
    )
    hpa["spec"]["template"]["spec"]["scaleTargetRef"] = {"name": "demo-rtw-orchestration"}
    assert cel_problems(hpa) == ["scaleTargetRef is the controller's: set it to {}"]


CRDS_DIR = os.environ.get("RTW_WORKER_CONTROLLER_CRDS", "")


@pytest.mark.skipif(
    not CRDS_DIR,
    reason="no copy of the worker controller's CRD files (RTW_WORKER_CONTROLLER_CRDS; the kind "
    f"job pulls chart temporal-worker-controller-crds {CONTROLLER_CHART_VERSION})",
)
def test_every_object_fits_the_crd_files_themselves(
    controller_renders: dict[str, list[Manifest]],
) -> None:
    schemas: dict[str, dict[str, Any]] = {}
    for path in Path(CRDS_DIR).rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                (version,) = [v for v in doc["spec"]["versions"] if v["name"] == "v1alpha1"]
                schemas[doc["spec"]["names"]["kind"]] = version["schema"]["openAPIV3Schema"]
    assert {"WorkerDeployment", "Connection", "WorkerResourceTemplate"} <= set(schemas)
    problems = []
    for name, objs in controller_renders.items():
        for obj in _controller_objects(objs):
            validator = jsonschema.Draft7Validator(schemas[obj["kind"]])
            for error in validator.iter_errors(json.loads(json.dumps(obj))):
                problems.append(f"{name} {obj['kind']}: {error.json_path}: {error.message}")
    assert problems == []


# --- refused values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["versioning.enabled=false"], "versioning.mode=controller needs versioning.enabled=true"),
        (
            ["versioning.retainedBuilds[0].buildId=1.0.0"],
            "versioning.retainedBuilds is for the hooks mode",
        ),
        (["versioning.rampPercentage=10"], "versioning.rampPercentage is the promote hook's"),
        (["versioning.allowStranding=true"], "versioning.allowStranding overrides"),
        (["temporal.address=[::1]:7233"], "is not a host:port the worker controller's"),
        (
            [
                "temporal.tls.enabled=true",
                "temporal.tls.existingSecret=tls",
                "temporal.apiKey.existingSecret=key",
            ],
            "both set, and the controller's Connection takes one of them",
        ),
        (
            [
                "temporal.tls.enabled=true",
                "temporal.tls.existingSecret=tls",
                "temporal.tls.clientCertKey=client.pem",
            ],
            "under the keys tls.crt, tls.key and (optional) ca.crt",
        ),
        (
            [
                "temporal.tls.enabled=true",
                "temporal.tls.existingSecret=tls",
                "temporal.tls.clientCertKey=",
                "temporal.tls.clientKeyKey=",
                "temporal.tls.serverCaKey=ca.crt",
            ],
            "trusts a private CA only from an mTLS Secret",
        ),
        (["temporal.tls.enabled=true"], "the worker controller connects in plaintext"),
        (
            [
                "versioning.controller.steps[0].rampPercentage=60",
                "versioning.controller.steps[0].pauseDuration=1m",
                "versioning.controller.steps[1].rampPercentage=50",
                "versioning.controller.steps[1].pauseDuration=1m",
            ],
            "steps[1].rampPercentage (50) must be greater than the step before (60)",
        ),
        (
            [
                "versioning.controller.steps[0].rampPercentage=10",
                "versioning.controller.steps[0].pauseDuration=20s",
            ],
            'steps[0].pauseDuration "20s" is shorter than 30s',
        ),
        (
            ["versioning.controller.sunset.scaledownDelay=2d"],
            "versioning/controller/sunset/scaledownDelay",
        ),
        (
            ["versioning.controller.sunset.scaledownDelay=48h"],
            "scaledownDelay (48h) is longer than deleteDelay (24h)",
        ),
        (["versioning.controller.strategy=Rolling"], "versioning/controller/strategy"),
        (["versioning.controller.gate.retries=3"], "additional properties 'retries'"),
        (["versioning.deploymentName=" + "x" * 60], "not a Kubernetes name of at most 63"),
        (["versioning.buildId=1.1.0-"], "becomes the WorkerDeployment's unsafeCustomBuildID"),
    ],
)
def test_values_the_controller_cannot_use_fail_with_what_to_change(
    helm: str, sets: list[str], message: str
) -> None:
    result = template(helm, sets=[*CONTROLLER, *sets])
    assert result.returncode != 0, f"rendered with {sets}"
    assert message in result.stderr, result.stderr


def test_a_progressive_rollout_without_steps_is_refused(helm: str, tmp_path: Path) -> None:
    values = tmp_path / "no-steps.yaml"
    values.write_text("versioning:\n  mode: controller\n  controller:\n    steps: []\n")
    result = template(helm, values=[values])
    assert result.returncode != 0
    assert "strategy Progressive needs at least one step" in result.stderr
    values.write_text(
        "versioning:\n  mode: controller\n  controller:\n    strategy: AllAtOnce\n    steps: []\n"
    )
    objs = load(render(helm, [values]))
    for obj in of_kind(objs, "WorkerDeployment").values():
        assert obj["spec"]["rollout"]["strategy"] == "AllAtOnce"
        assert "steps" not in obj["spec"]["rollout"]
