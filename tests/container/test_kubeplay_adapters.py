"""What tests/container/kubeplay.py hands each podman version, checked without podman.

The kube play test runs here with Debian's podman 4.3 and on GitHub's runners with podman 4.9;
the forms each version reads (kubeplay.py's docstring names the podman sources) are pinned
down here so both paths are exercised on every machine.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.container import kubeplay

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p", "labels": {"app.kubernetes.io/component": "gateway"}},
    "spec": {
        "securityContext": {"fsGroup": 10001},
        "containers": [
            {
                "name": "c",
                "image": "img",
                "ports": [{"name": "http", "containerPort": 8000}],
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}},
                "env": [{"name": "U", "valueFrom": {"secretKeyRef": {"name": "db", "key": "u"}}}],
            }
        ],
        "volumes": [{"name": "t", "secret": {"secretName": "tokens"}}],
    },
}
JOB: dict[str, Any] = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "migrate", "annotations": {"helm.sh/hook": "pre-install,pre-upgrade"}},
    "spec": {"backoffLimit": 3, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {}}},
}


@pytest.fixture(params=[(4, 3), (4, 9)], ids=["podman-4.3", "podman-4.9"])
def version(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    found: tuple[int, int] = request.param
    monkeypatch.setattr(kubeplay, "podman_version", lambda: found)
    return found


def test_probes_go_to_the_test_and_old_gaps_are_filled(version: tuple[int, int]) -> None:
    adapted = kubeplay.for_podman(POD, host_aliases=[{"ip": "10.0.0.2", "hostnames": ["gw"]}])
    container = adapted["spec"]["containers"][0]
    assert not {"livenessProbe", "readinessProbe", "startupProbe"} & set(container)
    assert adapted["spec"]["hostAliases"] == [{"ip": "10.0.0.2", "hostnames": ["gw"]}]
    port = container["ports"][0]
    secret = adapted["spec"]["volumes"][0]["secret"]
    if version < (4, 8):  # every containerPort is published there: a free loopback port each
        assert port["hostIP"] == "127.0.0.1"
        assert port["hostPort"] > 0
    else:
        assert "hostPort" not in port
    assert ("optional" in secret) is (version < (4, 4))
    assert "livenessProbe" in POD["spec"]["containers"][0], "the rendered object is untouched"


def test_hooks_run_as_pods_in_helm_order() -> None:
    later = {**JOB, "metadata": {**JOB["metadata"], "name": "a-later"}}
    later["metadata"]["annotations"] = {"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "5"}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {}}
    plan = kubeplay.InstallPlan.of([later, JOB, POD, service])
    assert [p["metadata"]["name"] for p in plan.hooks["pre-install"]] == ["migrate", "a-later"]
    assert {p["kind"] for p in plan.hooks["pre-install"]} == {"Pod"}
    assert plan.hooks["pre-install"][0]["metadata"]["labels"] == {"a": "b"}
    assert plan.workloads == [POD]
    assert plan.services == [service]
    assert plan.not_run == {"Service": 1}


def test_secrets_are_stored_in_the_form_each_podman_reads(
    version: tuple[int, int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stored: dict[str, Any] = {}

    def fake_podman(*args: str, **_: Any) -> None:
        assert args[:2] == ("secret", "create")
        stored[args[2]] = json.loads(Path(args[3]).read_text())

    monkeypatch.setattr(kubeplay, "podman", fake_podman)
    monkeypatch.setattr(kubeplay, "project_secret", lambda *a: None)
    uses = kubeplay.secret_uses([POD])
    assert uses["db"].env
    assert not uses["db"].volumes
    assert uses["tokens"].volumes == [({"secretName": "tokens"}, 10001)]
    kubeplay.create_secret("db", {"u": b"postgresql://x"}, uses["db"], tmp_path)
    kubeplay.create_secret("tokens", {"tokens": b"t1\n"}, uses["tokens"], tmp_path)
    encoded = base64.b64encode(b"postgresql://x").decode()
    if version >= (4, 4):  # a Secret manifest serves env and volumes (base64 data)
        assert stored["db"]["kind"] == "Secret"
        assert stored["db"]["data"] == {"u": encoded}
        assert stored["tokens"]["data"] == {"tokens": base64.b64encode(b"t1\n").decode()}
    else:  # env: a JSON map of base64 values; volumes: `data` written as is
        assert stored["db"] == {"u": encoded}
        assert stored["tokens"] == {"data": {"tokens": "t1\n"}}
    assert not list(tmp_path.iterdir()), "the secret's file does not outlive its creation"
