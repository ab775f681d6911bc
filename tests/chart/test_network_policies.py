"""NetworkPolicies per component: every pod the chart renders is selected by exactly one policy,
made for its component, and the tables below list each pod's allowed peers and ports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ._helm import CHART, QUEUES, Manifest, by_kind, component, helm_binary, load, render

pytestmark = pytest.mark.chart

#: A rule as a table row: (port, protocol, peer).
Row = tuple[int, str, str]

DNS = "ns:kube-system pod:k8s-app=kube-dns"
DNS_OUT = {(53, "UDP", DNS), (53, "TCP", DNS)}
#: Everything on: gateway (its ingress limited to ingress-nginx), codec server with OIDC,
#: PostgreSQL, an OTLP collector, both test Pods.
FULL = [CHART / "ci" / "gateway-values.yaml", CHART / "ci" / "codec-values.yaml"]


@pytest.fixture(scope="module")
def helm() -> str:
    return helm_binary()


def peer(spec: dict[str, Any]) -> str:
    """A NetworkPolicyPeer in a few words."""
    if "ipBlock" in spec:
        return f"cidr:{spec['ipBlock']['cidr']}"
    parts = []
    if "namespaceSelector" in spec:
        labels = spec["namespaceSelector"]["matchLabels"]
        parts.append(f"ns:{labels['kubernetes.io/metadata.name']}")
    if "podSelector" in spec:
        labels = spec["podSelector"]["matchLabels"]
        if "app.kubernetes.io/component" in labels:
            parts.append(f"pod:{labels['app.kubernetes.io/component']}")
        else:
            parts.append("pod:" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())))
    return " ".join(parts)


def rows(rules: list[dict[str, Any]], side: str) -> set[Row]:
    found = set()
    for rule in rules:
        peers = [peer(p) for p in rule.get(side, [])] or ["any"]
        for port in rule["ports"]:
            found |= {(port["port"], port["protocol"], p) for p in peers}
    return found


def pods(objs: list[Manifest]) -> Iterator[tuple[str, dict[str, str]]]:
    """(name, pod labels) of every pod the chart can create."""
    for obj in objs:
        if obj["kind"] == "Pod":
            yield obj["metadata"]["name"], obj["metadata"]["labels"]
        elif obj["kind"] in {"Deployment", "Job"}:
            yield obj["metadata"]["name"], obj["spec"]["template"]["metadata"]["labels"]


def allowed(objs: list[Manifest]) -> dict[str, dict[str, set[Row]]]:
    """Per pod (by name, without the release prefix): its ingress and egress rows, from the
    one policy that selects it (asserted)."""
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
    table = {}
    for name, labels in pods(objs):
        selecting = [
            p for p in policies if p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(selecting) == 1, (name, [p["metadata"]["name"] for p in selecting])
        (policy,) = selecting
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        table[name.removeprefix("demo-rtw-")] = {
            "in": rows(policy["spec"].get("ingress", []), "from"),
            "out": rows(policy["spec"]["egress"], "to"),
        }
    return table


def test_each_pod_gets_only_what_it_needs(helm: str) -> None:
    table = allowed(load(render(helm, FULL)))
    probes = {(8080, "TCP", "any"), (9464, "TCP", "any")}
    temporal, otlp, database = (7233, "TCP", "any"), (4317, "TCP", "any"), (5432, "TCP", "any")
    expected = {
        **{
            f"{q}-0-1-0": {"in": probes, "out": {*DNS_OUT, temporal, otlp, database}}
            for q in QUEUES
        },
        "gateway": {
            "in": {(8000, "TCP", "ns:ingress-nginx"), (8000, "TCP", "pod:gateway-test"), *probes},
            "out": {*DNS_OUT, temporal, otlp},  # no database: it keeps no state
        },
        "codec-server": {
            "in": {(8888, "TCP", "ns:temporal")},
            "out": {*DNS_OUT, (443, "TCP", "any")},  # the JWKS only: no Temporal, no database
        },
        "migrate": {"in": set(), "out": {*DNS_OUT, database}},
        "upgrade-guard": {"in": set(), "out": {*DNS_OUT, temporal, otlp}},
        "rollback-guard": {"in": set(), "out": {*DNS_OUT, temporal, otlp}},
        "promote": {"in": set(), "out": {*DNS_OUT, temporal, otlp}},
        "test": {"in": set(), "out": {*DNS_OUT, temporal, otlp}},
        "gateway-test": {"in": set(), "out": {*DNS_OUT, (8000, "TCP", "pod:gateway")}},
    }
    assert table == expected


def test_defaults_select_every_pod_and_nothing_release_wide(helm: str) -> None:
    objs = load(render(helm))
    table = allowed(objs)
    assert set(table) == {*(f"{q}-0-1-0" for q in QUEUES), *HOOKS_AND_TESTS}
    for name in HOOKS_AND_TESTS:
        assert table[name]["in"] == set(), name
        assert table[name]["out"] == {*DNS_OUT, (7233, "TCP", "any")}, name
    for policy in (o for o in objs if o["kind"] == "NetworkPolicy"):
        # one component each: no policy selects the whole release
        assert component({"metadata": {"labels": policy["spec"]["podSelector"]["matchLabels"]}})


HOOKS_AND_TESTS = ("upgrade-guard", "rollback-guard", "promote", "test")


def test_peers_narrow_each_rule(helm: str) -> None:
    table = allowed(load(render(helm, [CHART / "examples" / "self-hosted.yaml"])))
    worker = table["payments-0-1-0"]["out"]
    assert (7233, "TCP", "ns:temporal") in worker
    assert (4317, "TCP", "ns:observability") in worker
    assert (5432, "TCP", "ns:postgres") in worker
    assert not {row for row in worker if row[2] == "any"}
    assert table["upgrade-guard"]["out"] == {
        *DNS_OUT,
        (7233, "TCP", "ns:temporal"),
        (4317, "TCP", "ns:observability"),
    }


def test_pre_hooks_get_their_policy_before_they_run(helm: str) -> None:
    """A pre-install/pre-upgrade/pre-rollback Job runs before the revision's objects are
    applied: its policy is a hook of the same events with a lower weight, deleted with it."""
    objs = load(render(helm, FULL))
    policies = by_kind(objs, "NetworkPolicy")
    jobs = [o for o in objs if o["kind"] == "Job"]
    for job in jobs:
        hook = job["metadata"]["annotations"]["helm.sh/hook"]
        policy = policies[component(job) or ""]
        if not hook.startswith("pre-"):
            assert "annotations" not in policy["metadata"], job["metadata"]["name"]
            continue
        annotations = policy["metadata"]["annotations"]
        assert set(hook.split(",")) <= set(annotations["helm.sh/hook"].split(","))
        assert int(annotations["helm.sh/hook-weight"]) < int(
            job["metadata"]["annotations"]["helm.sh/hook-weight"]
        )
        assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"


def test_no_policies_when_turned_off(helm: str) -> None:
    objs = load(render(helm, FULL, sets=["networkPolicy.enabled=false"]))
    assert not [o for o in objs if o["kind"] == "NetworkPolicy"]
