"""The chart's order events and outbound webhooks: the gateway's database access, its
NetworkPolicy, the endpoints Secret (parsed by the gateway's own parser), and the checks."""

from __future__ import annotations

from typing import Any

import pytest

from services.webhooks.endpoints import parse_endpoints

from ._helm import CHART, Manifest, helm_binary, load, render, template

pytestmark = pytest.mark.chart

EVENTS_VALUES = CHART / "ci" / "gateway-events-values.yaml"
GATEWAY_VALUES = CHART / "ci" / "gateway-values.yaml"
EXAMPLE = CHART.parents[1] / "deploy" / "examples" / "webhook-endpoints.json"


@pytest.fixture(scope="module")
def helm() -> str:
    return helm_binary()


def of(objs: list[Manifest], kind: str, component: str) -> Manifest:
    (found,) = [
        o
        for o in objs
        if o["kind"] == kind
        and o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
    ]
    return found


def gateway_env(objs: list[Manifest]) -> dict[str, Any]:
    (container,) = of(objs, "Deployment", "gateway")["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


def test_events_on_give_the_gateway_the_database_and_its_egress(helm: str) -> None:
    objs = load(render(helm, [EVENTS_VALUES]))
    env = gateway_env(objs)
    assert env["RTW_GATEWAY_EVENTS"]["value"] == "true"
    assert env["RTW_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "rtw-db",
        "key": "database-url",
    }
    egress = of(objs, "NetworkPolicy", "gateway")["spec"]["egress"]
    ports = [p["port"] for rule in egress for p in rule["ports"]]
    assert 5432 in ports, "LISTEN/NOTIFY and reads of the order events"
    (webhooks,) = [r for r in egress if any(p["port"] == 443 for p in r["ports"])]
    (block,) = webhooks["to"]
    assert block["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert "10.0.0.0/8" in block["ipBlock"]["except"]


def test_the_endpoints_secret_is_mounted_where_the_gateway_reads_it(helm: str) -> None:
    objs = load(render(helm, [EVENTS_VALUES]))
    assert not [o for o in objs if o["kind"] == "Secret"], "no secret in values"
    env = gateway_env(objs)
    path = env["RTW_WEBHOOK_ENDPOINTS_FILE"]["value"]
    assert env["RTW_WEBHOOK_RETRY_SECONDS"]["value"] == "2"
    pod = of(objs, "Deployment", "gateway")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volume = {v["name"]: v for v in pod["volumes"]}["webhook-endpoints"]["secret"]
    assert volume["secretName"] == "rtw-webhook-endpoints"
    assert volume["items"] == [{"key": "endpoints.json", "path": "endpoints.json"}]
    assert path == f"{mounts['webhook-endpoints']['mountPath']}/endpoints.json"
    assert mounts["webhook-endpoints"]["readOnly"] is True


def test_the_example_endpoints_file_is_what_the_gateway_accepts() -> None:
    (endpoint,) = parse_endpoints(EXAMPLE.read_bytes())
    assert endpoint.id == "shop"
    assert endpoint.wants("order.completed")
    assert not endpoint.wants("inventory.reserved")
    assert endpoint.allow_private_network is False


def test_events_stay_off_by_default_and_the_gateway_keeps_no_database(helm: str) -> None:
    objs = load(render(helm, [GATEWAY_VALUES]))
    env = gateway_env(objs)
    assert env["RTW_GATEWAY_EVENTS"]["value"] == "false"
    assert "RTW_DATABASE_URL" not in env
    assert "RTW_WEBHOOK_ENDPOINTS_FILE" not in env
    egress = of(objs, "NetworkPolicy", "gateway")["spec"]["egress"]
    assert 5432 not in [p["port"] for rule in egress for p in rule["ports"]]


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["database.existingSecret="], "gateway.events.enabled needs database"),
        (["gateway.events.enabled=false"], "gateway.events.enabled is false"),
        (["gateway.events.enable=true"], "enable"),
    ],
)
def test_inconsistent_values_fail_with_what_to_change(
    helm: str, sets: list[str], message: str
) -> None:
    result = template(helm, [EVENTS_VALUES], sets)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
