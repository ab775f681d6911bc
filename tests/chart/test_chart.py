"""The rtw Helm chart, rendered with the real helm binary and checked object by object."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.contracts import OrderInput
from services.orchestration.settings import OrchestrationSettings

from ._helm import (
    CHART,
    CRD_KINDS,
    K8S_VERSIONS,
    NAMESPACE,
    QUEUES,
    RELEASE,
    REPO,
    Manifest,
    by_kind,
    checkov_binary,
    component,
    env_of,
    helm_binary,
    load,
    pod_specs,
    render,
    run_helm,
    template,
)

pytestmark = pytest.mark.chart

#: Components beside the workers, each with its own templates.
COMPONENTS = ("codec-server", "gateway")

CI_FILES = sorted((CHART / "ci").glob("*-values.yaml"))
EXAMPLE_FILES = sorted((CHART / "examples").glob("*.yaml"))
SELECTOR_KEYS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
}
#: The default build: the chart's appVersion, whose worker objects end in its slug.
BUILD = "0-1-0"
#: The hook Jobs: schema migration, the Worker Versioning guard (before an upgrade, before a
#: rollback) and promotion.
HOOK_JOBS = {"migrate", "upgrade-guard", "rollback-guard", "promote"}
#: Pre-install/pre-upgrade/pre-rollback hooks run before the release's ServiceAccount may exist.
PRE_HOOKS = {"migrate", "upgrade-guard", "rollback-guard"}
# networkPolicy.dnsTo's default: the cluster DNS pods.
KUBE_DNS = [
    {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }
]


def _case(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


@pytest.fixture(scope="module")
def helm() -> str:
    return helm_binary()


@pytest.fixture(scope="module")
def rendered_text(helm: str) -> dict[str, str]:
    """Every ci/*-values.yaml and examples/*.yaml rendered once (two at a time)."""
    files = CI_FILES + EXAMPLE_FILES
    with ThreadPoolExecutor(max_workers=2) as pool:
        texts = list(pool.map(lambda p: render(helm, [p]), files))
    return {_case(p): t for p, t in zip(files, texts, strict=True)}


@pytest.fixture(scope="module")
def rendered(rendered_text: dict[str, str]) -> dict[str, list[Manifest]]:
    return {name: load(text) for name, text in rendered_text.items()}


@pytest.fixture(scope="module")
def default(rendered: dict[str, list[Manifest]]) -> list[Manifest]:
    return rendered["ci/default-values.yaml"]


def _workers(objs: list[Manifest]) -> dict[str, Manifest]:
    return {k: v for k, v in by_kind(objs, "Deployment").items() if k not in COMPONENTS}


def _container(deployment: Manifest) -> Manifest:
    containers: list[Manifest] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


# --- structure ------------------------------------------------------------------------------


def test_ci_and_example_files_exist() -> None:
    assert len(CI_FILES) >= 4
    assert {p.name for p in EXAMPLE_FILES} >= {
        "temporal-cloud.yaml",
        "self-hosted.yaml",
        "scale-payments.yaml",
    }


def test_lint_strict(helm: str) -> None:
    for values in [[], *[[p] for p in CI_FILES]]:
        result = run_helm(helm, "lint", "--strict", str(CHART), values=values)
        assert result.returncode == 0, result.stdout + result.stderr


def test_renders_on_oldest_supported_kubernetes(helm: str) -> None:
    result = run_helm(
        helm, "template", RELEASE, str(CHART), "--kube-version", f"{K8S_VERSIONS[0]}.0"
    )
    assert result.returncode == 0, result.stderr


def test_one_deployment_template_ranges_over_workers() -> None:
    sources = sorted(
        p.name
        for p in (CHART / "templates").rglob("*.yaml")
        if re.search(r"^kind: Deployment$", p.read_text(), re.MULTILINE)
    )
    # the workers' one template, plus one per non-worker component (never one per worker)
    assert sources == sorted(["deployment.yaml", *(f"{c}-deployment.yaml" for c in COMPONENTS)])


def test_each_queue_has_its_own_deployment(default: list[Manifest]) -> None:
    workers = _workers(default)
    assert set(workers) == set(QUEUES)
    for queue, dep in workers.items():
        assert dep["metadata"]["name"] == f"{RELEASE}-rtw-{queue}-{BUILD}"
        assert dep["metadata"]["namespace"] == NAMESPACE
        container = _container(dep)
        assert container["image"] == "rtw:0.1.0"
        assert container["args"] == ["worker", queue, "--health-port", "8080"]
        assert dep["spec"]["replicas"] == 1


def test_selectors_use_only_name_instance_component(rendered: dict[str, list[Manifest]]) -> None:
    for name, objs in rendered.items():
        for obj in objs:
            spec = obj.get("spec", {})
            selector = spec.get("selector")
            if obj["kind"] == "Service":
                labels = selector
            elif obj["kind"] == "NetworkPolicy":
                labels = spec["podSelector"]["matchLabels"]
            elif isinstance(selector, dict):
                labels = dict(selector["matchLabels"])
                if "rtw/build" in obj["metadata"]["labels"]:
                    # each build's worker Deployments select only their build's pods
                    assert component(obj) in QUEUES
                    assert labels.pop("rtw/build") == obj["metadata"]["labels"]["rtw/build"]
            else:
                continue
            assert set(labels) <= SELECTOR_KEYS, (name, obj["kind"], labels)
            assert labels["app.kubernetes.io/instance"] == RELEASE


def test_every_worker_has_service_and_configmap(default: list[Manifest]) -> None:
    assert set(by_kind(default, "Service")) == set(QUEUES)
    # one ConfigMap per worker of each build, and the record of the release's builds
    assert set(by_kind(default, "ConfigMap")) == {*QUEUES, "builds"}
    for queue, svc in by_kind(default, "Service").items():
        ports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
        assert ports == {"health": 8080, "metrics": 9464}
        assert svc["spec"]["selector"]["app.kubernetes.io/component"] == queue


def test_probes_hit_the_health_endpoints(default: list[Manifest]) -> None:
    for dep in _workers(default).values():
        container = _container(dep)
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"health": 8080, "metrics": 9464}


def test_worker_env_contract(default: list[Manifest]) -> None:
    for queue in QUEUES:
        env = env_of(default, queue)
        assert env["TEMPORAL_ADDRESS"] == "temporal-frontend.temporal.svc.cluster.local:7233"
        assert env["TEMPORAL_NAMESPACE"] == "default"
        assert "TEMPORAL_TLS" not in env  # the app decides (on with an API key or certs)
        assert env["RTW_LOG_LEVEL"] == "INFO"
        assert "RTW_QUEUE_PREFIX" not in env
        assert f"k8s.namespace.name={NAMESPACE}" in env["OTEL_RESOURCE_ATTRIBUTES"]
        assert env["OTEL_SERVICE_NAME"] == f"rtw-{queue}"
        assert env["RTW_METRICS_PORT"] == "9464"
        assert env["RTW_DATA_DIR"] == "/var/lib/rtw"
        assert env["RTW_GRACEFUL_SHUTDOWN_SECONDS"] == "30"
        assert env["RTW_LOG_FORMAT"] == "json"
        assert "TEMPORAL_API_KEY_FILE" not in env
        assert "RTW_MAX_CONCURRENT_ACTIVITIES" not in env  # unset: the app's default
    dep = _workers(default)["payments"]
    config = {"configMapRef": {"name": f"{RELEASE}-rtw-payments-{BUILD}"}}
    assert _container(dep)["envFrom"] == [config]


def test_checksum_annotation_tracks_the_configmap(rendered: dict[str, list[Manifest]]) -> None:
    base = rendered["ci/default-values.yaml"]
    changed = rendered["ci/payments-scaled-values.yaml"]

    def checksums(objs: list[Manifest]) -> dict[str, str]:
        return {
            q: d["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            for q, d in _workers(objs).items()
        }

    before, after = checksums(base), checksums(changed)
    assert before["payments"] != after["payments"]
    assert before["orchestration"] == after["orchestration"]
    assert before["notifications"] == after["notifications"]


# --- per-queue independence ------------------------------------------------------------------


def _index(objs: list[Manifest]) -> dict[tuple[str, str], Manifest]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objs}


def test_changing_payments_changes_only_payments(rendered: dict[str, list[Manifest]]) -> None:
    base = _index(rendered["ci/default-values.yaml"])
    changed = _index(rendered["ci/payments-scaled-values.yaml"])
    added = set(changed) - set(base)
    assert added == {
        ("HorizontalPodAutoscaler", f"{RELEASE}-rtw-payments"),
        ("PodDisruptionBudget", f"{RELEASE}-rtw-payments"),  # it can now run more than one pod
    }
    assert set(base) - set(changed) == set()
    differing = {key for key in base if base[key] != changed[key]}
    assert differing == {
        ("Deployment", f"{RELEASE}-rtw-payments-{BUILD}"),
        ("ConfigMap", f"{RELEASE}-rtw-payments-{BUILD}"),
        ("ConfigMap", f"{RELEASE}-rtw-builds"),  # the record of the settings each build runs
    }
    dep = changed[("Deployment", f"{RELEASE}-rtw-payments-{BUILD}")]
    assert "replicas" not in dep["spec"]  # the HPA owns the replica count
    assert _container(dep)["resources"]["limits"] == {"cpu": "2", "memory": "1Gi"}
    assert dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 135
    env = changed[("ConfigMap", f"{RELEASE}-rtw-payments-{BUILD}")]["data"]
    assert env["RTW_MAX_CONCURRENT_ACTIVITIES"] == "50"
    assert env["PAYMENTS_PROVIDER_TIMEOUT_SECONDS"] == "20"
    hpa = changed[("HorizontalPodAutoscaler", f"{RELEASE}-rtw-payments")]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (4, 12)
    assert hpa["scaleTargetRef"]["name"] == f"{RELEASE}-rtw-payments-{BUILD}"


def test_disabling_a_worker_removes_all_its_objects(rendered: dict[str, list[Manifest]]) -> None:
    objs = rendered["ci/minimal-values.yaml"]
    assert set(_workers(objs)) == {"orchestration", "payments"}
    leftovers = [
        (o["kind"], o["metadata"]["name"])
        for o in objs
        if component(o) == "notifications" or "notifications" in o["metadata"]["name"]
    ]
    assert leftovers == []
    kinds = {o["kind"] for o in objs}
    assert not kinds & {"PodDisruptionBudget", "NetworkPolicy", "ServiceAccount", "Pod"}
    # the only Jobs are Worker Versioning's hooks (no database: no migrate Job)
    assert set(by_kind(objs, "Job")) == {"guard", "promote"}
    for dep in _workers(objs).values():
        assert dep["spec"]["template"]["spec"]["serviceAccountName"] == "rtw-workers"
        assert [p["name"] for p in _container(dep)["ports"]] == ["health"]


def test_workerdefaults_apply_and_workers_override(helm: str) -> None:
    objs = load(
        render(
            helm,
            sets=[
                "workerDefaults.replicaCount=3",
                "workerDefaults.nodeSelector.pool=workers",
                "workers.payments.replicaCount=0",
                "workers.payments.podDisruptionBudget.enabled=false",
                "database.allowPodLocal=true",
            ],
        )
    )
    workers = _workers(objs)
    assert workers["orchestration"]["spec"]["replicas"] == 3
    assert workers["payments"]["spec"]["replicas"] == 0  # an explicit 0/false wins
    assert all(
        w["spec"]["template"]["spec"]["nodeSelector"] == {"pool": "workers"}
        for w in workers.values()
    )
    assert set(by_kind(objs, "PodDisruptionBudget")) == {"orchestration", "notifications"}


# --- safety ----------------------------------------------------------------------------------


def test_pod_security_restricted_everywhere(rendered: dict[str, list[Manifest]]) -> None:
    seen_jobs: set[str] = set()
    for name, objs in rendered.items():
        for where, pod in pod_specs(objs):
            kind, _, object_name = where.partition("/")
            job = object_name.removeprefix(f"{RELEASE}-rtw-") if kind in {"Job", "Pod"} else None
            seen_jobs |= {job} if job else set()
            ctx = pod["securityContext"]
            assert ctx["runAsNonRoot"] is True, (name, where)
            assert ctx["runAsUser"] >= 10000, (name, where)
            assert ctx["seccompProfile"]["type"] == "RuntimeDefault", (name, where)
            assert pod["automountServiceAccountToken"] is False, (name, where)
            volumes = {v["name"]: v for v in pod["volumes"]}
            assert "emptyDir" in volumes["tmp"], (name, where)
            for container in pod["containers"] + pod.get("initContainers", []):
                sc = container["securityContext"]
                assert sc["allowPrivilegeEscalation"] is False, (name, where)
                assert sc["capabilities"]["drop"] == ["ALL"], (name, where)
                assert sc["readOnlyRootFilesystem"] is True, (name, where)
                assert sc["runAsNonRoot"] is True, (name, where)
                assert sc["runAsUser"] >= 10000, (name, where)
                assert sc["seccompProfile"]["type"] == "RuntimeDefault", (name, where)
                assert "limits" in container["resources"], (name, where)
                mounts = {m["mountPath"] for m in container["volumeMounts"]}
                # The hook Jobs and the other components keep no local state: only /tmp.
                stateless = job in HOOK_JOBS or any(where.endswith(c) for c in COMPONENTS)
                needed = {"/tmp"} if stateless else {"/tmp", "/var/lib/rtw"}
                assert needed <= mounts, (name, where)
    assert seen_jobs == {*HOOK_JOBS, "test", "gateway-test"}  # the test Pods


def test_dedicated_service_account_without_token(default: list[Manifest]) -> None:
    (sa,) = [o for o in default if o["kind"] == "ServiceAccount"]
    assert sa["automountServiceAccountToken"] is False
    for where, pod in pod_specs(default):
        hook = where.partition("/")[2].removeprefix(f"{RELEASE}-rtw-")
        # Hooks before install/upgrade/rollback may run before the chart's account exists.
        expected = "default" if hook in PRE_HOOKS else sa["metadata"]["name"]
        assert pod["serviceAccountName"] == expected, where
        assert pod["automountServiceAccountToken"] is False, where


def test_network_policies_follow_endpoints(rendered: dict[str, list[Manifest]]) -> None:
    """Each component's policy takes the ports from the endpoints and the peers from
    networkPolicy.*To; tests/chart/test_network_policies.py lists every pod's peers."""
    objs = rendered["ci/selfhosted-hpa-values.yaml"]
    np = by_kind(objs, "NetworkPolicy")["orchestration"]
    dns, temporal, otlp, database = np["spec"]["egress"]
    assert temporal["ports"] == [{"port": 7233, "protocol": "TCP"}]
    assert temporal["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "temporal"
    }
    assert otlp["ports"] == [{"port": 443, "protocol": "TCP"}]  # https:// without a port
    assert otlp["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]
    assert database["ports"] == [{"port": 5432, "protocol": "TCP"}]
    assert database["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "postgres"
    }
    assert dns["to"] == KUBE_DNS  # the default DNS peers
    assert np["spec"]["ingress"][0]["from"][0]["namespaceSelector"]
    cloud = rendered["ci/cloud-keda-values.yaml"]
    np = by_kind(cloud, "NetworkPolicy")["payments"]
    assert sorted(p["port"] for r in np["spec"]["egress"] for p in r["ports"]) == [
        53,
        53,
        4317,
        5432,
        7233,
    ]


# --- graceful shutdown -----------------------------------------------------------------------


def test_grace_period_is_computed_above_graceful_shutdown(
    rendered: dict[str, list[Manifest]],
) -> None:
    for name, objs in rendered.items():
        for queue, dep in _workers(objs).items():
            graceful = int(env_of(objs, queue)["RTW_GRACEFUL_SHUTDOWN_SECONDS"])
            period = dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            assert period > graceful, (name, queue)
    default = _workers(rendered["ci/default-values.yaml"])
    assert default["payments"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 45


def test_explicit_grace_period_above_graceful_is_kept(helm: str) -> None:
    objs = load(render(helm, sets=["workers.payments.terminationGracePeriodSeconds=31"]))
    dep = _workers(objs)["payments"]
    assert dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 31


@pytest.mark.parametrize(
    "sets",
    [
        ["workers.payments.terminationGracePeriodSeconds=30"],
        [
            "workerDefaults.terminationGracePeriodSeconds=10",
            "workerDefaults.gracefulShutdownSeconds=10",
        ],
    ],
    ids=["worker", "workerDefaults"],
)
def test_grace_period_too_small_fails(helm: str, sets: list[str]) -> None:
    result = template(helm, sets=sets)
    assert result.returncode != 0
    assert "terminationGracePeriodSeconds" in result.stderr
    assert "must be greater than gracefulShutdownSeconds" in result.stderr
    assert "Raise workers." in result.stderr


# --- autoscaling -----------------------------------------------------------------------------


def test_hpa_and_keda_together_fail(helm: str) -> None:
    result = template(
        helm,
        sets=["workers.payments.autoscaling.enabled=true", "workers.payments.keda.enabled=true"],
    )
    assert result.returncode != 0
    assert "workers.payments: autoscaling.enabled and keda.enabled are both true" in result.stderr


def test_keda_scaled_object_targets_the_right_queue(rendered: dict[str, list[Manifest]]) -> None:
    objs = rendered["ci/cloud-keda-values.yaml"]
    scaled = by_kind(objs, "ScaledObject")
    assert set(scaled) == {"payments", "notifications"}
    (auth,) = [o for o in objs if o["kind"] == "TriggerAuthentication"]
    expected_queue = {"payments": "payments", "notifications": "notifications-v2"}
    for queue, so in scaled.items():
        spec = so["spec"]
        assert spec["scaleTargetRef"]["name"] == f"{RELEASE}-rtw-{queue}-{BUILD}"
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "temporal"
        meta = trigger["metadata"]
        assert meta["taskQueue"] == expected_queue[queue]
        assert meta["namespace"] == "rtw-prod.a1b2c"
        assert meta["endpoint"] == "rtw-prod.a1b2c.tmprl.cloud:7233"
        assert meta["queueTypes"] == "activity"
        # The backlog of the current build's Worker Deployment Version (KEDA >= 2.20).
        assert meta["workerDeploymentName"] == f"{RELEASE}-{queue}"
        assert meta["workerDeploymentBuildId"] == "0.1.0"
        # The temporal scaler has no enableTLS: it speaks TLS because it has an API key.
        assert "enableTLS" not in meta
        assert all(isinstance(v, str) for v in meta.values())  # KEDA metadata is string-only
        assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
        assert "replicas" not in _workers(objs)[queue]["spec"]
    assert scaled["payments"]["spec"]["minReplicaCount"] == 0
    assert scaled["notifications"]["spec"]["triggers"][0]["metadata"]["targetQueueSize"] == "50"
    assert _workers(objs)["orchestration"]["spec"]["replicas"] == 1
    # The trigger authenticates with the very Secret the workers mount.
    (ref,) = auth["spec"]["secretTargetRef"]
    assert ref == {"parameter": "apiKey", "name": "temporal-cloud-api-key", "key": "api-key"}
    volumes = _workers(objs)["payments"]["spec"]["template"]["spec"]["volumes"]
    api_key = next(v for v in volumes if v["name"] == "temporal-api-key")
    assert api_key["secret"]["secretName"] == ref["name"]
    assert api_key["secret"]["items"][0]["key"] == ref["key"]


def test_keda_orchestration_counts_workflow_backlog(helm: str) -> None:
    sets = [
        "workers.orchestration.keda.enabled=true",
        "queuePrefix=staging-",
        "database.existingSecret=rtw-db",
    ]
    objs = load(render(helm, sets=sets))
    (so,) = by_kind(objs, "ScaledObject").values()
    meta = so["spec"]["triggers"][0]["metadata"]
    assert env_of(objs, "orchestration")["RTW_QUEUE_PREFIX"] == "staging-"
    assert (meta["taskQueue"], meta["queueTypes"], meta["namespace"]) == (
        "staging-orchestration",
        "workflow",
        "default",
    )
    assert "authenticationRef" not in so["spec"]["triggers"][0]  # no credentials configured
    assert not [o for o in objs if o["kind"] == "TriggerAuthentication"]


# --- connection and credentials --------------------------------------------------------------


def test_api_key_and_tls_mounted_as_files(rendered: dict[str, list[Manifest]]) -> None:
    cloud = rendered["examples/temporal-cloud.yaml"]
    env = env_of(cloud, "payments")
    assert env["TEMPORAL_TLS"] == "true"
    assert env["TEMPORAL_API_KEY_FILE"] == "/etc/rtw/temporal-api-key/api-key"
    mounts = _container(_workers(cloud)["payments"])["volumeMounts"]
    assert {
        "name": "temporal-api-key",
        "mountPath": "/etc/rtw/temporal-api-key",
        "readOnly": True,
    } in mounts

    mtls = rendered["examples/self-hosted.yaml"]
    env = env_of(mtls, "orchestration")
    assert env["TEMPORAL_TLS_CLIENT_CERT_PATH"] == "/etc/rtw/temporal-tls/client.crt"
    assert env["TEMPORAL_TLS_CLIENT_KEY_PATH"] == "/etc/rtw/temporal-tls/client.key"
    assert env["TEMPORAL_TLS_SERVER_CA_CERT_PATH"] == "/etc/rtw/temporal-tls/server-ca.crt"
    assert env["TEMPORAL_TLS_SERVER_NAME"] == "temporal-frontend.temporal.svc.cluster.local"
    volumes = _workers(mtls)["orchestration"]["spec"]["template"]["spec"]["volumes"]
    tls = next(v for v in volumes if v["name"] == "temporal-tls")["secret"]
    assert tls["secretName"] == "rtw-temporal-client-tls"
    assert {i["path"] for i in tls["items"]} == {"client.crt", "client.key", "server-ca.crt"}
    # Secrets never land in the ConfigMap.
    for objs in rendered.values():
        assert not [o for o in objs if o["kind"] == "Secret"]


def test_otel_settings(rendered: dict[str, list[Manifest]]) -> None:
    env = env_of(rendered["ci/cloud-keda-values.yaml"], "notifications")
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability.svc:4317"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
    assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.1"
    assert "deployment.environment=prod" in env["OTEL_RESOURCE_ATTRIBUTES"].split(",")


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["temporal.address=http://temporal:7233"], "must be host:port"),
        (["temporal.tls.existingSecret=x"], "set temporal.tls.enabled=true"),
    ],
)
def test_bad_connection_values_fail(helm: str, sets: list[str], message: str) -> None:
    result = template(helm, sets=sets)
    assert result.returncode != 0
    assert message in result.stderr


# --- database --------------------------------------------------------------------------------

DB_CASE = "ci/database-values.yaml"
SCALED_WITHOUT_DATABASE = [
    (["workers.payments.replicaCount=2"], "workers.payments: replicaCount is 2"),
    (
        ["workers.payments.autoscaling.enabled=true"],
        "workers.payments: autoscaling.enabled is true",
    ),
    (["workers.orchestration.keda.enabled=true"], "workers.orchestration: keda.enabled is true"),
]
SCALED_IDS = ["replicaCount", "hpa", "keda"]


def _database_env(secret: str, key: str) -> list[Manifest]:
    ref = {"secretKeyRef": {"name": secret, "key": key}}
    return [{"name": "RTW_DATABASE_URL", "valueFrom": ref}]


def _migrate_job(objs: list[Manifest]) -> Manifest:
    job: Manifest = by_kind(objs, "Job")["migrate"]
    return job


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in [str(k), *_strings(v)]]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [node] if isinstance(node, str) else []


def test_every_worker_reads_the_database_url_from_the_secret(
    rendered: dict[str, list[Manifest]],
) -> None:
    objs = rendered[DB_CASE]
    workers = _workers(objs)
    assert set(workers) == set(QUEUES)
    for queue, dep in workers.items():
        container = _container(dep)
        assert container["env"] == _database_env("rtw-db", "uri"), queue
        assert "RTW_DATABASE_URL" not in env_of(objs, queue)  # never in the ConfigMap
        assert dep["spec"]["replicas"] == 2
    # Every rendering with a database gives it to every worker; without one, no worker has it.
    for name, objs in rendered.items():
        has_db = "migrate" in by_kind(objs, "Job")
        for queue, dep in _workers(objs).items():
            names = [e["name"] for e in _container(dep).get("env", [])]
            assert ("RTW_DATABASE_URL" in names) == has_db, (name, queue)
    assert "migrate" in by_kind(rendered["examples/scale-payments.yaml"], "Job")


def test_secrets_in_env_are_only_the_database_url(rendered: dict[str, list[Manifest]]) -> None:
    """checkov's CKV_K8S_35 is skipped for RTW_DATABASE_URL; the chart puts no other secret in env.

    Only a user's own `extraEnvFrom` (ci/extensions-values.yaml) adds a Secret as env.
    """
    for name, objs in rendered.items():
        for where, pod in pod_specs(objs):
            for container in pod["containers"]:
                for var in container.get("env", []):
                    if "secretKeyRef" in var.get("valueFrom", {}):
                        assert var["name"] == "RTW_DATABASE_URL", (name, where, var)
                for source in container.get("envFrom", []):
                    if "secretRef" in source:
                        payments = f"Deployment/{RELEASE}-rtw-payments-{BUILD}"
                        assert (name, where) == (EXT_CASE, payments)


def test_no_database_url_in_values_or_rendered_config(
    rendered_text: dict[str, str],
) -> None:
    url = re.compile(r"postgres(ql)?://", re.IGNORECASE)
    for path in [CHART / "values.yaml", *CI_FILES, *EXAMPLE_FILES]:
        values = yaml.safe_load(path.read_text()) or {}  # comments may show a URL; values never
        assert not [s for s in _strings(values) if url.search(s)], _case(path)
        assert "url" not in (values.get("database") or {}), _case(path)
    for name, text in rendered_text.items():
        assert not url.search(text), name


def test_migrate_hook_job(rendered: dict[str, list[Manifest]]) -> None:
    objs = rendered[DB_CASE]
    job = _migrate_job(objs)
    assert job["metadata"]["name"] == f"{RELEASE}-rtw-migrate"
    assert job["metadata"]["annotations"] == {
        "helm.sh/hook": "pre-install,pre-upgrade",
        "helm.sh/hook-weight": "-5",
        "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded",
    }
    assert (job["spec"]["backoffLimit"], job["spec"]["activeDeadlineSeconds"]) == (1, 120)
    pod = job["spec"]["template"]["spec"]
    assert component(job["spec"]["template"]) == "migrate"
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["args"] == ["db", "migrate"]
    assert "command" not in container  # the image's entrypoint is `rtw`
    worker = _workers(objs)["payments"]["spec"]["template"]["spec"]
    assert container["image"] == worker["containers"][0]["image"]
    assert container["env"][0] == _database_env("rtw-db", "uri")[0]
    assert {e["name"] for e in container["env"]} == {
        "RTW_DATABASE_URL",
        "RTW_LOG_FORMAT",
        "RTW_LOG_LEVEL",
    }
    assert container["resources"]["limits"] == {"cpu": "200m", "memory": "128Mi"}
    # Same restricted contexts as the workers, read-only root with a /tmp emptyDir only.
    assert pod["securityContext"] == worker["securityContext"]
    assert container["securityContext"] == worker["containers"][0]["securityContext"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    # An existing ServiceAccount (create=false) is used; no token either way.
    assert pod["serviceAccountName"] == "rtw-workers" == worker["serviceAccountName"]
    assert pod["automountServiceAccountToken"] is False


def test_migrate_hook_runs_before_the_release_service_account_exists(
    rendered: dict[str, list[Manifest]],
) -> None:
    """Pre-install hooks run before the chart's own ServiceAccount is created: use `default`."""
    objs = rendered["examples/temporal-cloud.yaml"]
    (sa,) = [o for o in objs if o["kind"] == "ServiceAccount"]
    pod = _migrate_job(objs)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "default" != sa["metadata"]["name"]
    assert pod["automountServiceAccountToken"] is False
    for dep in _workers(objs).values():
        assert dep["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]


def test_migrate_hook_gets_its_own_network_policy(rendered: dict[str, list[Manifest]]) -> None:
    objs = rendered[DB_CASE]
    policies = by_kind(objs, "NetworkPolicy")
    worker, hook = policies["payments"], policies["migrate"]
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "postgres"}}}]
    # The workers' policy lets them reach the database port, only towards databaseTo.
    assert {"ports": [{"port": 6432, "protocol": "TCP"}], "to": peers} in worker["spec"]["egress"]
    # The hook policy exists before the Job (lower weight) and goes with it.
    annotations = hook["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    job_weight = _migrate_job(objs)["metadata"]["annotations"]["helm.sh/hook-weight"]
    assert int(annotations["helm.sh/hook-weight"]) < int(job_weight)
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    spec = hook["spec"]
    assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "migrate"
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in spec  # nothing may connect to it
    dns, database = spec["egress"]
    assert sorted(p["port"] for p in dns["ports"]) == [53, 53]
    assert database == {"ports": [{"port": 6432, "protocol": "TCP"}], "to": peers}


#: Objects of every rendering: the versioning hooks and their policies, the workers' policies.
VERSIONING_JOBS = {"guard", "promote"}
BASE_POLICIES = {*QUEUES, "guard", "promote"}


@pytest.mark.parametrize(
    ("sets", "jobs", "policies"),
    [
        ([], VERSIONING_JOBS, BASE_POLICIES),
        (
            ["database.existingSecret=rtw-db"],
            {*VERSIONING_JOBS, "migrate"},
            {*BASE_POLICIES, "migrate"},
        ),
        (
            ["database.existingSecret=rtw-db", "database.migrate.enabled=false"],
            VERSIONING_JOBS,
            BASE_POLICIES,
        ),
        (
            ["database.existingSecret=rtw-db", "networkPolicy.enabled=false"],
            {*VERSIONING_JOBS, "migrate"},
            set(),
        ),
    ],
    ids=["no-database", "database", "migrate-off", "no-networkpolicy"],
)
def test_migrate_objects_only_with_a_database(
    helm: str, sets: list[str], jobs: set[str], policies: set[str]
) -> None:
    objs = load(render(helm, sets=[*sets, "tests.enabled=false"]))
    assert set(by_kind(objs, "Job")) == jobs
    assert set(by_kind(objs, "NetworkPolicy")) == policies
    with_db = bool(sets)
    for dep in _workers(objs).values():
        assert (_container(dep).get("env") == _database_env("rtw-db", "database-url")) == with_db
        # The data emptyDir stays: SQLite state without a database, scratch space with one.
        volumes = {v["name"] for v in dep["spec"]["template"]["spec"]["volumes"]}
        assert "data" in volumes


@pytest.mark.parametrize(("sets", "where"), SCALED_WITHOUT_DATABASE, ids=SCALED_IDS)
def test_scaling_without_a_database_fails(helm: str, sets: list[str], where: str) -> None:
    result = template(helm, sets=sets)
    assert result.returncode != 0
    assert where in result.stderr
    assert (
        "database.existingSecret (a Secret with a postgresql:// URL) or "
        "database.allowPodLocal=true for a demo (each pod then keeps its own ledger, stock and "
        "outbox)"
    ) in result.stderr


@pytest.mark.parametrize(("sets", "where"), SCALED_WITHOUT_DATABASE, ids=SCALED_IDS)
def test_allow_pod_local_renders_scaled_workers(helm: str, sets: list[str], where: str) -> None:
    objs = load(render(helm, sets=[*sets, "database.allowPodLocal=true"]))
    assert "migrate" not in by_kind(objs, "Job")
    assert all("env" not in _container(d) for d in _workers(objs).values())
    with_db = load(render(helm, sets=[*sets, "database.existingSecret=rtw-db"]))
    assert "migrate" in by_kind(with_db, "Job")


def test_notes_say_where_state_lives(helm: str) -> None:
    args = ("install", RELEASE, str(CHART), "--dry-run=client", "-n", NAMESPACE)
    local = run_helm(helm, *args)
    assert local.returncode == 0, local.stderr
    assert "State: pod-local SQLite" in local.stdout
    assert "WARNING: each pod keeps its own ledger" in local.stdout
    shared = run_helm(helm, *args, sets=["database.existingSecret=rtw-db"])
    assert shared.returncode == 0, shared.stderr
    assert 'State: shared PostgreSQL (RTW_DATABASE_URL from Secret "rtw-db"' in shared.stdout
    assert "rtw db migrate" in shared.stdout
    assert "WARNING" not in shared.stdout


# --- helm test -------------------------------------------------------------------------------


def test_helm_test_pings_every_queue_by_default(default: list[Manifest]) -> None:
    """No money moves by default: `rtw ping` checks pollers and a no-op activity per queue.
    tests/chart/test_helm_test_hooks.py checks why it is a Pod and how Helm runs it."""
    (test,) = [o for o in default if o["kind"] == "Pod"]
    assert component(test) == "test"
    assert test["metadata"]["annotations"]["helm.sh/hook"] == "test"
    pod = test["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["args"][0] == "ping"
    assert "command" not in container, "the image's entrypoint is rtw"
    timeout = int(container["args"][container["args"].index("--timeout") + 1])
    assert timeout < pod["activeDeadlineSeconds"], "rtw ping gives up before the Pod's deadline"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert "RTW_TEST_ORDER" not in env
    worker_env = env_of(default, "orchestration")
    for key in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "RTW_LOG_FORMAT", "RTW_QUEUE_PREFIX"):
        assert env.get(key) == worker_env.get(key), key


def test_helm_test_full_saga_uses_a_new_order_id_every_run(helm: str) -> None:
    """Opt-in saga: the image's example order under an id made when the test runs (`--new-id`,
    proven in tests/integration/test_stack.py), so a second `helm test` of the same revision
    cannot pass on the first run's completed order. The image has no shell: plain args."""
    out = load(render(helm, sets=["tests.fullSaga=true"]))
    (test,) = [o for o in out if o["kind"] == "Pod" and component(o) == "test"]
    (container,) = test["spec"]["containers"]
    assert "command" not in container, "the image's entrypoint is rtw; it has no shell"
    args = container["args"]
    assert args[:2] == ["order", "start"]
    assert "--wait" in args
    assert args[args.index("--new-id") + 1] == "helm-test"
    example = args[args.index("--file") + 1]
    assert example == "/opt/rtw/examples/order.json"
    root = CHART.parents[1]
    assert "COPY deploy/examples /opt/rtw/examples" in (root / "Dockerfile").read_text()
    order = OrderInput.model_validate_json((root / "deploy/examples/order.json").read_text())
    assert order.payment_method == "pm_card_visa", "the test card, never a real one"
    threshold = OrchestrationSettings.model_fields["approval_threshold_cents"].default
    assert order.total_cents < threshold, "the example must not wait for a reviewer"


def test_helm_test_pod_gets_the_same_credentials(rendered: dict[str, list[Manifest]]) -> None:
    objs = rendered["ci/cloud-keda-values.yaml"]
    pod = by_kind(objs, "Pod")["test"]["spec"]
    worker = _workers(objs)["payments"]["spec"]["template"]["spec"]
    secret_vols = [v for v in pod["volumes"] if "secret" in v]
    assert secret_vols == [v for v in worker["volumes"] if "secret" in v]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["TEMPORAL_API_KEY_FILE"] == "/etc/rtw/temporal-api-key/api-key"


# --- extension points and hygiene ---------------------------------------------------------

EXT_CASE = "ci/extensions-values.yaml"


def _values_file(tmp_path: Path, values: dict[str, Any]) -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def test_extension_points_per_worker(rendered: dict[str, list[Manifest]]) -> None:
    workers = _workers(rendered[EXT_CASE])
    pre_stop = {"exec": {"command": ["/bin/sh", "-c", "sleep 5"]}}
    for queue, dep in workers.items():
        container = _container(dep)
        assert container["lifecycle"] == {"preStop": pre_stop}, queue  # from workerDefaults
        config_map = {"configMapRef": {"name": f"{RELEASE}-rtw-{queue}-{BUILD}"}}
        if queue == "payments":
            # The worker's list replaces workerDefaults' list; extraEnvFrom precedes the chart's
            # ConfigMap, so the chart's own variables win a clash.
            region = {"configMapKeyRef": {"name": "payments-provider", "key": "region"}}
            assert container["env"] == [{"name": "PAYMENTS_PROVIDER_REGION", "valueFrom": region}]
            secret_ref = {"secretRef": {"name": "payments-provider"}}
            assert container["envFrom"] == [secret_ref, config_map]
            volumes = dep["spec"]["template"]["spec"]["volumes"]
            assert volumes[-1] == {
                "name": "provider-ca",
                "configMap": {"name": "payments-provider-ca"},
            }
            assert {v["name"] for v in volumes} == {"tmp", "data", "provider-ca"}
            assert container["volumeMounts"][-1] == {
                "name": "provider-ca",
                "mountPath": "/etc/rtw/provider-ca",
                "readOnly": True,
            }
        else:
            pod_name = {"fieldRef": {"fieldPath": "metadata.name"}}
            assert container["env"] == [
                {"name": "POD_NAME", "valueFrom": pod_name},
                {"name": "FEATURE_FLAGS", "value": "fast-path"},
            ]
            assert container["envFrom"] == [config_map]
            assert len(dep["spec"]["template"]["spec"]["volumes"]) == 2  # tmp and data only


def test_extra_env_follows_the_database_url(helm: str) -> None:
    objs = load(
        render(
            helm,
            values=[CHART / "ci" / "extensions-values.yaml"],
            sets=["database.existingSecret=rtw-db"],
        )
    )
    env = _container(_workers(objs)["orchestration"])["env"]
    assert [e["name"] for e in env] == ["RTW_DATABASE_URL", "POD_NAME", "FEATURE_FLAGS"]


REFUSED = " is set by the chart; remove it and use "


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            ["workers.payments.env.TEMPORAL_ADDRESS=x:7233"],
            f"workers.payments.env: TEMPORAL_ADDRESS{REFUSED}temporal.address.",
        ),
        (
            ["workers.payments.env.TEMPORAL_NAMESPACE=ns"],
            f"workers.payments.env: TEMPORAL_NAMESPACE{REFUSED}temporal.namespace.",
        ),
        (
            ["workerDefaults.env.RTW_DATABASE_URL=sqlite:///x"],
            f"workerDefaults.env: RTW_DATABASE_URL{REFUSED}database.existingSecret",
        ),
        (
            [
                "workers.payments.extraEnv[0].name=TEMPORAL_API_KEY",
                "workers.payments.extraEnv[0].value=k",
            ],
            f"workers.payments.extraEnv: TEMPORAL_API_KEY{REFUSED}temporal.apiKey.existingSecret",
        ),
        (
            [
                "workers.orchestration.extraEnv[0].name=RTW_DATABASE_URL",
                "workers.orchestration.extraEnv[0].valueFrom.secretKeyRef.name=db",
                "workers.orchestration.extraEnv[0].valueFrom.secretKeyRef.key=url",
            ],
            f"workers.orchestration.extraEnv: RTW_DATABASE_URL{REFUSED}database.existingSecret",
        ),
        (
            ["workers.payments.env.TEMPORAL_TLS_CLIENT_CERT_PATH=/x"],
            f"workers.payments.env: TEMPORAL_TLS_CLIENT_CERT_PATH{REFUSED}temporal.tls.*",
        ),
        (
            ["workers.payments.env.TEMPORAL_GRPC_META=x"],
            f"workers.payments.env: TEMPORAL_GRPC_META{REFUSED}the temporal.* values",
        ),
    ],
    ids=["address", "namespace", "database-url", "api-key", "extra-database-url", "tls", "other"],
)
def test_chart_owned_env_names_are_refused(helm: str, sets: list[str], message: str) -> None:
    result = template(helm, sets=sets)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"workers": {"payments": {"extraVolumes": [{"name": "tmp", "emptyDir": {}}]}}},
            'workers.payments.extraVolumes: the volume name "tmp" is the chart\'s own',
        ),
        (
            {
                "workerDefaults": {
                    "extraVolumeMounts": [{"name": "x", "mountPath": "/var/lib/rtw/"}]
                }
            },
            'workerDefaults.extraVolumeMounts: mountPath "/var/lib/rtw/" is used by the chart',
        ),
    ],
    ids=["volume-name", "mount-path"],
)
def test_chart_owned_volumes_are_refused(
    helm: str, tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    result = template(helm, values=[_values_file(tmp_path, values)])
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_other_env_names_pass(helm: str) -> None:
    sets = [
        "workers.payments.env.MY_TEMPORAL_TIMEOUT=5",
        "workers.payments.env.RTW_DATABASE_POOL=4",
    ]
    env = env_of(load(render(helm, sets=sets)), "payments")
    assert (env["MY_TEMPORAL_TIMEOUT"], env["RTW_DATABASE_POOL"]) == ("5", "4")


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"extraEnv": [{"name": "A", "value": "1", "valueFrom": {"fieldRef": {}}}]}, "extraEnv"),
        ({"extraEnv": [{"value": "1"}]}, "extraEnv"),
        ({"extraEnvFrom": [{"secretRf": {"name": "s"}}]}, "secretRf"),
        ({"lifecycle": {"preStp": {}}}, "preStp"),
        ({"keda": {"fallback": {"replica": 2}}}, "replica"),
        ({"autoscaling": {"behavior": {"scaleDwn": {}}}}, "scaleDwn"),
    ],
    ids=[
        "value-and-valueFrom",
        "no-name",
        "envFrom-typo",
        "lifecycle-typo",
        "fallback-typo",
        "behavior-typo",
    ],
)
def test_schema_checks_extension_points(
    helm: str, tmp_path: Path, values: dict[str, Any], needle: str
) -> None:
    result = template(helm, values=[_values_file(tmp_path, {"workers": {"payments": values}})])
    assert result.returncode != 0
    assert needle in result.stderr, result.stderr


@pytest.mark.parametrize("release", ["demo", "r" * 53])
def test_names_stay_unique_and_short_under_long_names(helm: str, release: str) -> None:
    """A 60-character fullnameOverride (or the longest release name) cuts the prefix, never the
    component suffix: every object keeps a distinct name of at most 63 characters."""
    sets = [
        "database.existingSecret=rtw-db",
        "temporal.apiKey.existingSecret=temporal-key",
        "workers.payments.keda.enabled=true",
        "workers.orchestration.autoscaling.enabled=true",
        "workers.notifications.replicaCount=2",
        "metrics.serviceMonitor.enabled=true",
    ]
    override = "a-very-long-release-prefix-that-fills-up-the-name-budget-xyz"
    assert len(override) == 60
    if release == "demo":
        sets.append(f"fullnameOverride={override}")
    result = run_helm(helm, "template", release, str(CHART), "--namespace", NAMESPACE, sets=sets)
    assert result.returncode == 0, result.stderr
    objs = load(result.stdout)
    kinds = {o["kind"] for o in objs}
    assert {"TriggerAuthentication", "ScaledObject", "HorizontalPodAutoscaler"} <= kinds
    assert {"PodDisruptionBudget", "ServiceMonitor", "NetworkPolicy", "Job"} <= kinds
    names = [(o["kind"], o["metadata"]["name"]) for o in objs]
    assert len(set(names)) == len(names), names
    for kind, name in names:
        assert len(name) <= 63, (kind, name)
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), (kind, name)
    for obj in objs:
        comp = component(obj)
        if comp and obj["kind"] != "TriggerAuthentication":
            build = obj["metadata"]["labels"].get("rtw/build")
            suffix = f"-{comp}-{build}" if build else f"-{comp}"  # a build's worker objects
            assert obj["metadata"]["name"].endswith(suffix), obj["metadata"]["name"]
    auth = next(o for o in objs if o["kind"] == "TriggerAuthentication")
    assert auth["metadata"]["name"].endswith("-temporal")
    # Four per-worker kinds, each with three distinct names.
    for kind in ("Deployment", "Service", "ConfigMap", "PodDisruptionBudget"):
        workers = {n for k, n in names if k == kind and not n.endswith("-builds")}
        assert len(workers) == 3, kind


@pytest.mark.parametrize(
    ("sets", "with_pdb"),
    [
        ([], set()),
        (["workers.payments.replicaCount=2"], {"payments"}),
        (["workers.payments.replicaCount=0"], set()),
        (["workerDefaults.autoscaling.enabled=true"], set(QUEUES)),
        (
            [
                "workers.payments.autoscaling.enabled=true",
                "workers.payments.autoscaling.maxReplicas=1",
            ],
            set(),
        ),
        (
            ["workers.payments.keda.enabled=true", "workers.payments.keda.maxReplicaCount=3"],
            {"payments"},
        ),
        (["workers.payments.keda.enabled=true", "workers.payments.keda.maxReplicaCount=1"], set()),
        (
            ["workerDefaults.replicaCount=2", "workers.payments.podDisruptionBudget.enabled=false"],
            {"orchestration", "notifications"},
        ),
    ],
    ids=[
        "single",
        "replicas-2",
        "replicas-0",
        "hpa",
        "hpa-max-1",
        "keda-max-3",
        "keda-max-1",
        "disabled",
    ],
)
def test_pdb_only_when_a_worker_can_have_more_than_one_pod(
    helm: str, sets: list[str], with_pdb: set[str]
) -> None:
    objs = load(render(helm, sets=[*sets, "database.existingSecret=rtw-db"]))
    pdbs = by_kind(objs, "PodDisruptionBudget")
    assert set(pdbs) == with_pdb
    for queue, pdb in pdbs.items():
        assert pdb["spec"]["maxUnavailable"] == 1
        assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == queue


def test_dns_egress_defaults_to_kube_dns(rendered: dict[str, list[Manifest]]) -> None:
    for name in ("ci/default-values.yaml", DB_CASE):
        for policy in by_kind(rendered[name], "NetworkPolicy").values():
            dns = policy["spec"]["egress"][0]
            assert {p["port"] for p in dns["ports"]} == {53}
            assert {p["protocol"] for p in dns["ports"]} == {"UDP", "TCP"}
            assert dns["to"] == KUBE_DNS, (name, policy["metadata"]["name"])


@pytest.mark.parametrize(
    ("dns_to", "expected"),
    [
        ([{"ipBlock": {"cidr": "169.254.20.10/32"}}], [{"ipBlock": {"cidr": "169.254.20.10/32"}}]),
        ([], None),
    ],
    ids=["nodelocal-dns", "any"],
)
def test_dns_egress_is_overridable(
    helm: str, tmp_path: Path, dns_to: list[Manifest], expected: list[Manifest] | None
) -> None:
    values = {"networkPolicy": {"dnsTo": dns_to}, "database": {"existingSecret": "rtw-db"}}
    objs = load(render(helm, values=[_values_file(tmp_path, values)]))
    policies = by_kind(objs, "NetworkPolicy")
    assert set(policies) == {*QUEUES, "migrate", "guard", "promote", "test"}
    for policy in policies.values():
        assert policy["spec"]["egress"][0].get("to") == expected


def test_hpa_behavior_and_keda_fallback(rendered: dict[str, list[Manifest]]) -> None:
    hpas = by_kind(rendered["ci/selfhosted-hpa-values.yaml"], "HorizontalPodAutoscaler")
    assert hpas["orchestration"]["spec"]["behavior"] == {
        "scaleDown": {
            "stabilizationWindowSeconds": 600,
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}],
        }
    }
    assert (
        "behavior"
        not in by_kind(rendered["ci/payments-scaled-values.yaml"], "HorizontalPodAutoscaler")[
            "payments"
        ]["spec"]
    )
    scaled = by_kind(rendered["ci/cloud-keda-values.yaml"], "ScaledObject")
    payments = scaled["payments"]["spec"]
    assert payments["fallback"] == {"failureThreshold": 3, "replicas": 2}
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 600}}
    assert payments["advanced"] == {"horizontalPodAutoscalerConfig": {"behavior": behavior}}
    assert "fallback" not in scaled["notifications"]["spec"]
    assert "advanced" not in scaled["notifications"]["spec"]


def test_keda_fallback_needs_both_fields(helm: str) -> None:
    sets = [
        "database.existingSecret=rtw-db",
        "workers.payments.keda.enabled=true",
        "workers.payments.keda.fallback.replicas=2",
    ]
    result = template(helm, sets=sets)
    assert result.returncode != 0
    assert "workers.payments.keda.fallback: set both failureThreshold and replicas" in result.stderr


def test_soft_topology_spread_by_default(rendered: dict[str, list[Manifest]]) -> None:
    for queue, dep in _workers(rendered["ci/default-values.yaml"]).items():
        (constraint,) = dep["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert constraint == {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dep["spec"]["selector"]["matchLabels"]},
        }
        assert constraint["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == queue
    for dep in _workers(rendered["ci/minimal-values.yaml"]).values():  # `[]` turns it off
        assert "topologySpreadConstraints" not in dep["spec"]["template"]["spec"]
    for dep in _workers(rendered["ci/selfhosted-hpa-values.yaml"]).values():  # a list replaces it
        (constraint,) = dep["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert constraint["topologyKey"] == "topology.kubernetes.io/zone"


KEDA_TLS = [
    "database.existingSecret=rtw-db",
    "workers.payments.keda.enabled=true",
    "temporal.tls.enabled=true",
]


@pytest.mark.parametrize(
    "sets",
    [
        [],
        [
            "temporal.tls.existingSecret=ca-only",
            "temporal.tls.clientCertKey=",
            "temporal.tls.clientKeyKey=",
            "temporal.tls.serverCaKey=ca.crt",
        ],
    ],
    ids=["no-secret", "ca-only"],
)
def test_keda_with_tls_but_no_credentials_fails(helm: str, sets: list[str]) -> None:
    result = template(helm, sets=[*KEDA_TLS, *sets])
    assert result.returncode != 0
    message = result.stderr
    assert "workers.payments.keda: temporal.tls.enabled is true" in message
    assert "neither is configured" in message
    assert "temporal.apiKey.existingSecret" in message
    assert "temporal.tls.existingSecret with clientCertKey and clientKeyKey" in message


@pytest.mark.parametrize(
    ("sets", "parameters"),
    [
        (["temporal.apiKey.existingSecret=key"], {"apiKey"}),
        (["temporal.tls.existingSecret=mtls"], {"cert", "key"}),
    ],
    ids=["api-key", "mtls"],
)
def test_keda_with_tls_and_credentials_renders(
    helm: str, sets: list[str], parameters: set[str]
) -> None:
    objs = load(render(helm, sets=[*KEDA_TLS, *sets]))
    (auth,) = [o for o in objs if o["kind"] == "TriggerAuthentication"]
    assert {r["parameter"] for r in auth["spec"]["secretTargetRef"]} == parameters
    (so,) = by_kind(objs, "ScaledObject").values()
    assert so["spec"]["triggers"][0]["authenticationRef"]["name"] == auth["metadata"]["name"]


def test_readme_states_minimum_keda_versions() -> None:
    readme = (CHART / "README.md").read_text()
    section = readme.split("### KEDA versions", 1)[1].split("\n## ", 1)[0]
    for feature, version in [
        ("`temporal` trigger", "2.17"),
        ("`tlsServerName`", "2.18"),
        ("ScaledObject `fallback`", "2.17"),
        ("`advanced.horizontalPodAutoscalerConfig.behavior`", "2.17"),
    ]:
        row = next(line for line in section.splitlines() if line.startswith(f"| {feature}"))
        minimum = row.split("|")[3].strip()  # | feature | rendered for | minimum KEDA |
        assert minimum.startswith(version), row


# --- schema ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "parent", "bad_key"),
    [
        ("imagee.tag=x", "", "imagee"),
        ("workers.payments.replicas=2", "workers/payments", "replicas"),
        ("workerDefaults.autoscalling.enabled=true", "workerDefaults", "autoscalling"),
        ("workers.paymnets.enabled=false", "workers", "paymnets"),
        ("workers.payments.keda.targetQueSize=3", "workers/payments/keda", "targetQueSize"),
        ("temporal.tls.enable=true", "temporal/tls", "enable"),
        # The database URL may hold a password: it only ever comes from a Secret.
        ("database.url=postgresql://rtw@db:5432/rtw", "database", "url"),
        ("database.migrate.enable=false", "database/migrate", "enable"),
    ],
)
def test_schema_rejects_typos(helm: str, setting: str, parent: str, bad_key: str) -> None:
    result = template(helm, sets=[setting])
    assert result.returncode != 0
    message = result.stderr
    # helm 4: "at '/workers/payments': additional properties 'replicas' not allowed";
    # helm 3: "workers.payments: Additional property replicas is not allowed".
    assert re.search(r"additional propert", message, re.IGNORECASE), message
    assert bad_key in message, message
    assert parent.replace("/", ".") in message or f"'/{parent}'" in message, message


def test_schema_enforces_pod_security_ids(helm: str) -> None:
    result = template(helm, sets=["containerSecurityContext.runAsUser=0"])
    assert result.returncode != 0
    assert "runAsUser" in result.stderr


def test_schema_forbids_additional_properties_everywhere() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    open_maps = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            closed = node.get("additionalProperties") is False
            if node.get("type") == "object" and "properties" in node and not closed:
                open_maps.append(path)
            for key, child in node.items():
                walk(child, f"{path}/{key}")
        elif isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, f"{path}/{i}")

    walk(schema, "")
    assert open_maps == []


# --- Kubernetes schemas and policy ----------------------------------------------------------


def test_kubernetes_validate_supports_our_versions() -> None:
    pkg = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    shipped = {p.name.split("-")[0].removeprefix("v").rsplit(".", 1)[0] for p in pkg.iterdir()}
    missing = set(K8S_VERSIONS) - shipped
    assert not missing, f"kubernetes-validate lacks schemas for {sorted(missing)}"
    readme = (CHART / "README.md").read_text()
    assert f"{K8S_VERSIONS[0]}\N{EN DASH}{K8S_VERSIONS[-1]}" in readme


def test_manifests_valid_for_every_supported_kubernetes(
    rendered: dict[str, list[Manifest]],
) -> None:
    errors: list[str] = []
    for name, objs in rendered.items():
        for obj in objs:
            if obj["kind"] in CRD_KINDS:
                continue
            for version in K8S_VERSIONS:
                try:
                    kubernetes_validate.validate(obj, f"{version}.0", strict=True)
                except kubernetes_validate.ValidationError as exc:
                    errors.append(
                        f"{name} {obj['kind']}/{obj['metadata']['name']} {version}: {exc}"
                    )
    assert errors == []


def test_kubernetes_validate_strict_catches_unknown_fields(default: list[Manifest]) -> None:
    dep = json.loads(json.dumps(_workers(default)["payments"]))
    dep["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, f"{K8S_VERSIONS[-1]}.0", strict=True)


def _assert_keys(obj: dict[str, Any], allowed: set[str], required: set[str], where: str) -> None:
    assert required <= set(obj), f"{where}: missing {required - set(obj)}"
    assert set(obj) <= allowed, f"{where}: unknown {set(obj) - allowed}"


def test_crd_objects_have_the_expected_shape(rendered: dict[str, list[Manifest]]) -> None:
    seen: set[str] = set()
    for name, objs in rendered.items():
        names = {(o["kind"], o["metadata"]["name"]) for o in objs}
        for obj in objs:
            kind, where = obj["kind"], f"{name} {obj['kind']}"
            if kind not in CRD_KINDS:
                continue
            seen.add(kind)
            _assert_keys(obj, {"apiVersion", "kind", "metadata", "spec"}, {"spec"}, where)
            spec = obj["spec"]
            if kind == "ScaledObject":
                assert obj["apiVersion"] == "keda.sh/v1alpha1"
                _assert_keys(
                    spec,
                    {
                        "scaleTargetRef",
                        "minReplicaCount",
                        "maxReplicaCount",
                        "pollingInterval",
                        "cooldownPeriod",
                        "fallback",
                        "advanced",
                        "triggers",
                    },
                    {"scaleTargetRef", "triggers"},
                    where,
                )
                if "fallback" in spec:
                    fallback_keys = {"failureThreshold", "replicas"}
                    _assert_keys(spec["fallback"], fallback_keys, fallback_keys, where)
                if "advanced" in spec:
                    hpa_config = spec["advanced"]["horizontalPodAutoscalerConfig"]
                    assert set(spec["advanced"]) == {"horizontalPodAutoscalerConfig"}, where
                    assert set(hpa_config) == {"behavior"}, where
                assert ("Deployment", spec["scaleTargetRef"]["name"]) in names
                assert spec["minReplicaCount"] <= spec["maxReplicaCount"]
                for trig in spec["triggers"]:
                    _assert_keys(trig, {"type", "metadata", "authenticationRef"}, {"type"}, where)
                    _assert_keys(
                        trig["metadata"],
                        {
                            "endpoint",
                            "namespace",
                            "taskQueue",
                            "queueTypes",
                            "targetQueueSize",
                            "activationTargetQueueSize",
                            "tlsServerName",
                            "workerDeploymentName",
                            "workerDeploymentBuildId",
                        },
                        {"endpoint", "namespace", "taskQueue", "targetQueueSize"},
                        where,
                    )
                    if "authenticationRef" in trig:
                        ref = trig["authenticationRef"]["name"]
                        assert ("TriggerAuthentication", ref) in names
            elif obj["apiVersion"] == "temporal.io/v1alpha1":
                continue  # the worker controller's kinds: test_controller_chart.py checks them
            elif kind == "TriggerAuthentication":
                assert obj["apiVersion"] == "keda.sh/v1alpha1"
                _assert_keys(spec, {"secretTargetRef"}, {"secretTargetRef"}, where)
                for ref in spec["secretTargetRef"]:
                    _assert_keys(
                        ref, {"parameter", "name", "key"}, {"parameter", "name", "key"}, where
                    )
                    assert ref["parameter"] in {"apiKey", "ca", "cert", "key"}
            else:
                assert obj["apiVersion"] == "monitoring.coreos.com/v1"
                _assert_keys(
                    spec,
                    {"selector", "namespaceSelector", "endpoints"},
                    {"selector", "endpoints"},
                    where,
                )
                for ep in spec["endpoints"]:
                    assert ep["port"] == "metrics"
                    assert ep["path"] == "/metrics"
                svc_labels = [o["metadata"]["labels"] for o in objs if o["kind"] == "Service"]
                match = spec["selector"]["matchLabels"]
                assert any(match.items() <= labels.items() for labels in svc_labels), where
    assert seen == CRD_KINDS


def _checkov_skips() -> list[str]:
    config = yaml.safe_load((CHART / ".checkov.yaml").read_text())
    skips: list[str] = config["skip-check"]
    return skips


def test_checkov_passes(rendered_text: dict[str, str], tmp_path: Path) -> None:
    checkov = checkov_binary()
    for name, text in rendered_text.items():
        (tmp_path / name.replace("/", "__")).write_text(text)
    result = subprocess.run(
        [checkov, "--config-file", str(CHART / ".checkov.yaml"), "-d", str(tmp_path), "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=tmp_path,
    )
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failures = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for report in reports
        for c in report["results"]["failed_checks"]
    ]
    assert failures == [], "\n".join(failures)
    passed = sum(report["summary"]["passed"] for report in reports)
    assert passed > 100  # the scan really ran


def test_checkov_skips_are_documented() -> None:
    readme = (CHART / "README.md").read_text()
    inline = {
        match
        for path in (CHART / "templates").rglob("*.yaml")
        for match in re.findall(r"checkov\.io/skip\d+: (CKV_K8S_\d+)=", path.read_text())
    }
    assert inline == {"CKV_K8S_8", "CKV_K8S_9"}  # the test Pods' probes, nothing else
    for check in [*_checkov_skips(), *inline]:
        assert f"`{check}`" in readme, f"{check} is skipped but not explained in the README"


# --- docs ------------------------------------------------------------------------------------


def test_readme_values_table_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "deploy" / "tools" / "gen-chart-readme.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_value_is_documented() -> None:
    text = (CHART / "values.yaml").read_text()
    values = yaml.safe_load(text)
    readme = (CHART / "README.md").read_text()
    for section in ("image", "temporal", "otel", "database", "networkPolicy", "metrics", "tests"):
        for key in values[section]:
            if isinstance(values[section][key], dict) and values[section][key]:
                continue
            assert f"`{section}.{key}`" in readme, f"{section}.{key} lacks a `# --` comment"
    for key in values["workerDefaults"]:
        if isinstance(values["workerDefaults"][key], dict) and key not in {
            "resources",
            "env",
            "podAnnotations",
            "podLabels",
            "nodeSelector",
            "affinity",
        }:
            continue
        assert f"`workerDefaults.{key}`" in readme, f"workerDefaults.{key} lacks a `# --` comment"


def test_notes_tell_the_next_command(helm: str) -> None:
    result = run_helm(helm, "install", RELEASE, str(CHART), "--dry-run=client", "-n", NAMESPACE)
    assert result.returncode == 0, result.stderr
    assert f"helm test {RELEASE} -n {NAMESPACE}" in result.stdout


def test_notes_name_the_prefixed_task_queues(helm: str) -> None:
    result = run_helm(
        helm, "install", RELEASE, str(CHART), "--dry-run=client", "-n", NAMESPACE,
        "--set", "queuePrefix=staging-",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for queue in ("orchestration", "payments", "notifications"):
        assert f'task queue "staging-{queue}"' in result.stdout
