"""The chart's gateway component: Deployment, Service, Ingress, HPA, PDB, NetworkPolicy and
its helm test, rendered with the real helm binary."""

from __future__ import annotations

import pytest

from ._helm import CHART, Manifest, by_kind, helm_binary, load, render, template

pytestmark = pytest.mark.chart

GATEWAY_VALUES = CHART / "ci" / "gateway-values.yaml"
NAME = "demo-rtw-gateway"


@pytest.fixture(scope="module")
def helm() -> str:
    return helm_binary()


@pytest.fixture(scope="module")
def objs(helm: str) -> list[Manifest]:
    return load(render(helm, [GATEWAY_VALUES]))


def gateway_objects(objs: list[Manifest]) -> dict[str, Manifest]:
    return {
        o["kind"]: o
        for o in objs
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "gateway"
    }


def test_off_by_default(helm: str) -> None:
    assert gateway_objects(load(render(helm))) == {}


def test_every_gateway_object_is_rendered(objs: list[Manifest]) -> None:
    assert set(gateway_objects(objs)) == {
        "Deployment",
        "Service",
        "Ingress",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
    }
    for obj in gateway_objects(objs).values():
        assert obj["metadata"]["name"] == NAME


def test_deployment_runs_rtw_gateway_with_secrets_as_files(objs: list[Manifest]) -> None:
    deployment = gateway_objects(objs)["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["gateway", "--port", "8000", "--health-port", "8080"]
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    env = {e["name"]: e for e in container["env"]}
    assert env["RTW_GATEWAY_TOKENS_FILE"]["value"] == "/etc/rtw/gateway-tokens/tokens"
    assert env["RTW_WEBHOOK_SECRET_FILE"]["value"] == "/etc/rtw/webhook-secret/secret"
    assert env["OTEL_SERVICE_NAME"]["value"] == "rtw-gateway"
    assert env["RTW_GATEWAY_CORS_ORIGINS"]["value"] == '["https://shop.example"]'
    assert "RTW_DATABASE_URL" not in env, "the gateway talks to Temporal only"
    assert all("valueFrom" not in e for e in env.values()), "no secret in env"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["gateway-tokens"]["secret"]["secretName"] == "rtw-gateway-tokens"
    assert volumes["webhook-secret"]["secret"]["secretName"] == "rtw-carrier-webhook"
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["gateway-tokens"]["readOnly"] is True
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert pod["terminationGracePeriodSeconds"] > int(
        env["RTW_GATEWAY_GRACEFUL_SHUTDOWN_SECONDS"]["value"]
    )


def test_service_and_ingress_route_to_the_api_port(objs: list[Manifest]) -> None:
    service = gateway_objects(objs)["Service"]
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert ports["http"] == {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ingress = gateway_objects(objs)["Ingress"]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [
        {"secretName": "orders-example-tls", "hosts": ["orders.example.com"]}
    ]
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "orders.example.com"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": NAME, "port": {"name": "http"}}


def test_hpa_and_pdb(objs: list[Manifest], helm: str) -> None:
    hpa = gateway_objects(objs)["HorizontalPodAutoscaler"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert hpa["spec"]["scaleTargetRef"]["name"] == NAME
    pdb = gateway_objects(objs)["PodDisruptionBudget"]
    assert pdb["spec"]["maxUnavailable"] == 1
    single = load(
        render(
            helm,
            sets=[
                "gateway.enabled=true",
                "gateway.auth.existingSecret=t",
                "gateway.replicaCount=1",
            ],
        )
    )
    assert "PodDisruptionBudget" not in gateway_objects(single)


def test_network_policy_opens_the_api_port_and_egress_to_temporal_and_otlp(
    objs: list[Manifest],
) -> None:
    spec = gateway_objects(objs)["NetworkPolicy"]["spec"]
    assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "gateway"
    api, probes = spec["ingress"]
    assert api["ports"] == [{"port": 8000, "protocol": "TCP"}]
    ingress_nginx, test_pod = api["from"]
    assert ingress_nginx["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "ingress-nginx"
    }
    # the helm test pod that orders through the API gets in as well
    assert test_pod["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "gateway-test"
    assert sorted(p["port"] for p in probes["ports"]) == [8080, 9464]
    egress_ports = sorted(p["port"] for rule in spec["egress"] for p in rule["ports"])
    assert egress_ports == [53, 53, 4317, 7233]  # no database: the gateway keeps no state


def test_helm_test_drives_one_order_through_the_gateway(objs: list[Manifest]) -> None:
    test = by_kind(objs, "Pod")["gateway-test"]
    assert test["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = test["spec"]["containers"]
    command = container["command"]
    assert command[:3] == ["python", "-m", "services.gateway.smoke"]
    assert command[command.index("--url") + 1] == f"http://{NAME}:80"
    assert command[command.index("--token-file") + 1] == "/etc/rtw/gateway-tokens/tokens"


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["gateway.enabled=true"], "gateway.auth.existingSecret is empty"),
        (
            [
                "gateway.enabled=true",
                "gateway.auth.existingSecret=t",
                "gateway.terminationGracePeriodSeconds=5",
            ],
            "must be greater than gracefulShutdownSeconds",
        ),
        (
            [
                "gateway.enabled=true",
                "gateway.auth.existingSecret=t",
                "gateway.autoscaling.enabled=true",
                "gateway.autoscaling.minReplicas=5",
                "gateway.autoscaling.maxReplicas=2",
            ],
            "minReplicas (5) is greater than maxReplicas (2)",
        ),
        (["gateway.tokens=abc"], "additional properties"),
    ],
)
def test_bad_gateway_values_fail_with_a_message(helm: str, sets: list[str], message: str) -> None:
    result = template(helm, sets=sets)
    assert result.returncode != 0
    assert message.lower() in result.stderr.lower(), result.stderr
