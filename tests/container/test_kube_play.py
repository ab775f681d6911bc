"""The chart's rendered pods booted for real with `podman kube play`, as a cluster would run them.

`helm template` renders a release with tests/container/kube-play-values.yaml (three workers on a
shared PostgreSQL, the gateway, the codec server, encrypted payloads, the full-saga helm test).
The test then runs it in the order of `helm install --wait` and `helm test`: the pre-install
hooks (the migrate Job) to exit 0; the Deployments (workers for the three queues, gateway, codec
server) until every startup, readiness and liveness probe passes; the post-install hooks (the
promote Job when versioning is on) to exit 0; then every test hook, which must exit 0. Pods are
picked by kind, hook annotation and `app.kubernetes.io/component` label from the rendered output,
and run as rendered (image, args, env, envFrom, secretKeyRef, mounted Secrets, security context,
resources) except for the stand-ins tests/container/kubeplay.py lists with podman's sources.
What podman cannot run (Services, NetworkPolicies, ServiceAccounts, autoscalers, disruption
budgets, Ingress, KEDA and Prometheus objects) is named in NOT_RUN and checked by tests/chart.

Temporal (the session's dev server) and PostgreSQL (a throwaway cluster) run on this machine on
loopback; the pods reach them through relays on the bridge gateway of a podman network made for
the test. Measured: 16-66 s on a 2-core machine shared with other jobs, the image already built;
most of the spread is a worker that now and then takes its whole 30 s drain to exit on SIGTERM
(still exit 0, within the pod's grace period).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client, WorkflowExecutionStatus

from services.chaos.postgres import TempPostgres
from services.runtime.codec import ENCODING, new_key
from services.runtime.devserver import DevServer
from tests.chart._helm import CHART, helm_binary, load, run_helm
from tests.container.kubeplay import (
    InstallPlan,
    PlayedPod,
    await_probes,
    component,
    create_secret,
    for_podman,
    play,
    remove_pods,
    secret_uses,
    service_aliases,
)
from tests.container.podman import IMAGE, podman, podman_version
from tests.container.relay import TcpRelay

pytestmark = [
    pytest.mark.container,
    pytest.mark.skipif(
        shutil.which("podman") is None or os.geteuid() != 0,
        reason="needs podman as root (the pods' bridge must be reachable from the host):"
        " run as root after deploy/tools/build-image.sh",
    ),
]

VALUES = Path(__file__).with_name("kube-play-values.yaml")
#: The components the release must run as pods.
COMPONENTS = {"orchestration", "payments", "notifications", "gateway", "codec-server"}
#: Kinds podman kube play skips (tests/chart renders and checks each); a kind outside this set
#: fails the test until someone decides how to cover it.
NOT_RUN = {
    "Service",  # no virtual IPs: test pods get hostAliases to the selected pod instead
    "NetworkPolicy",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Ingress",
    "ServiceMonitor",
    "ScaledObject",
    "TriggerAuthentication",
}
HOOK_TIMEOUT = 240  # seconds a hook pod may run (the chart's own deadlines are shorter)
TOKEN = "kube-play-token"


@pytest.fixture
def bridge() -> Iterator[tuple[str, str]]:
    """A podman network of this test's own, its bridge up: (name, gateway address)."""
    name = f"rtw-kp-{uuid.uuid4().hex[:8]}"
    podman("network", "create", name)
    anchor = f"{name}-anchor"
    try:
        gateway = podman(
            "network", "inspect", "--format", "{{range .Subnets}}{{.Gateway}}{{end}}", name
        ).stdout.strip()
        # netavark makes the bridge interface with the first pod on the network: an empty pod
        # (its infra container only) brings it up, so the relays can listen on the gateway.
        podman("pod", "create", "--network", name, "--name", anchor)
        podman("pod", "start", anchor)
        yield name, gateway
    finally:
        podman("pod", "rm", "--force", anchor, check=False)
        podman("network", "rm", "--force", name, check=False)


def secrets_for(run: str, database_url: str) -> dict[str, dict[str, bytes]]:
    """The Secrets an operator creates before `helm install`, under this run's names."""
    keys = json.dumps({"active": "k1", "keys": {"k1": new_key()}}).encode()
    return {
        f"{run}-db": {"database-url": database_url.encode()},
        f"{run}-codec-keys": {"keys.json": keys},
        f"{run}-codec-tokens": {"tokens": f"{TOKEN}\n".encode()},
        f"{run}-gateway-tokens": {"tokens": f"{TOKEN}\n".encode()},
        f"{run}-webhook": {"webhook-secret": b"kube-play-webhook-secret\n"},
    }


def render(run: str, temporal: str) -> list[dict[str, Any]]:
    """`helm template` of the release `run` with the test's values."""
    repository, tag = IMAGE.rsplit(":", 1)
    sets = [
        f"image.repository={repository}",
        f"image.tag={tag}",
        f"temporal.address={temporal}",
        f"queuePrefix={run}-",
        f"database.existingSecret={run}-db",
        f"codec.existingSecret={run}-codec-keys",
        f"codecServer.tokens.existingSecret={run}-codec-tokens",
        f"gateway.auth.existingSecret={run}-gateway-tokens",
        f"gateway.webhook.existingSecret={run}-webhook",
    ]
    result = run_helm(
        helm_binary(), "template", run, str(CHART), "--namespace", "rtw", values=[VALUES], sets=sets
    )
    assert result.returncode == 0, result.stderr
    return load(result.stdout)


def run_to_completion(pods: list[PlayedPod], what: str) -> str:
    """Wait for each pod's containers; all must exit 0. Their logs, joined."""
    logs = []
    for pod in pods:
        codes = pod.wait(timeout=HOOK_TIMEOUT)
        text = pod.logs()
        assert set(codes.values()) == {0}, f"{what} {pod.name} exited {codes}:\n{text}"
        logs.append(text)
    return "\n".join(logs)


#: What every container of the release reports about itself (its security context in effect).
_SELF = """
import json, os
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines())
try:
    open("/opt/rtw/probe", "w")
    root_writable = True
except OSError:
    root_writable = False
open("/tmp/probe", "w").close()  # the emptyDir every pod mounts
print(json.dumps({"uid": os.getuid(), "gid": os.getgid(), "cap_eff": status["CapEff"].strip(),
                  "no_new_privs": status["NoNewPrivs"].strip(), "root_writable": root_writable}))
"""
#: What _SELF reports under the chart's security context: uid/gid 10001, no capabilities,
#: no_new_privs (allowPrivilegeEscalation: false), read-only root filesystem.
RESTRICTED = {
    "uid": 10001,
    "gid": 10001,
    "cap_eff": "0000000000000000",
    "no_new_privs": "1",
    "root_writable": False,
}


async def test_rendered_release_runs_an_order_and_passes_helm_test(
    image: str,
    dev_server: DevServer,
    postgres_server: TempPostgres,
    bridge: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    network, gateway = bridge
    run = f"kp{uuid.uuid4().hex[:6]}"  # the release; every name podman creates starts with it
    played: list[PlayedPod] = []
    with ExitStack() as stack:
        temporal = stack.enter_context(TcpRelay(gateway, dev_server.port))
        pg = stack.enter_context(TcpRelay(gateway, postgres_server.port))
        host_db_url = postgres_server.create_database()
        pod_db_url = host_db_url.replace(f"127.0.0.1:{postgres_server.port}", pg.address)
        plan = InstallPlan.of(render(run, temporal.address))

        assert {component(w) for w in plan.workloads} >= COMPONENTS, plan.workloads
        assert plan.hooks["test"], "the chart rendered no helm test hook"
        assert set(plan.not_run) <= NOT_RUN, f"kinds podman cannot run: {plan.not_run}"

        provided = secrets_for(run, pod_db_url)
        uses = secret_uses(plan.pods())
        assert set(uses) <= set(provided), f"Secrets the chart reads: {sorted(uses)}"
        for name, use in uses.items():
            stack.callback(podman, "volume", "rm", "--force", name, check=False)
            stack.callback(podman, "secret", "rm", name, check=False)
            create_secret(name, provided[name], use, tmp_path)
        stack.callback(remove_pods, played)

        def launch(objs: list[dict[str, Any]], tag: str, **adapt: Any) -> list[PlayedPod]:
            pods = play(
                [for_podman(o, **adapt) for o in objs],
                config_maps=plan.config_maps,
                network=network,
                workdir=tmp_path,
                tag=tag,
            )
            played.extend(pods)
            return pods

        # helm install --wait: pre-install hooks, the release, its readiness, post-install hooks
        for i, hook in enumerate(plan.hooks["pre-install"]):
            run_to_completion(launch([hook], f"pre-install-{i}"), "pre-install hook")
        release = launch(plan.workloads, "release")
        for pod in release:
            await_probes(pod)
        for i, hook in enumerate(plan.hooks["post-install"]):
            run_to_completion(launch([hook], f"post-install-{i}"), "post-install hook")

        # helm test: each test pod reaches Services by name, as in the cluster
        aliases = service_aliases(plan.services, release)
        test_logs = ""
        for i, hook in enumerate(plan.hooks["test"]):
            pods = launch([hook], f"test-{i}", host_aliases=aliases)
            test_logs += run_to_completion(pods, "helm test pod")

        # No workload restarted, and each ran with its security context in effect.
        for pod in release:
            for name, cid in pod.containers.items():
                state = pod.state(name)
                assert state["Status"] == "running", f"{pod.name}: {state}\n{pod.logs()}"
                assert state["RestartCount"] == 0, f"{pod.name} restarted:\n{pod.logs()}"
                seen = json.loads(podman("exec", cid, "python3", "-c", _SELF).stdout)
                assert seen == RESTRICTED, (pod.name, seen)

        # The full-saga test pod printed its order's workflow id: completed on Temporal,
        # its payloads encrypted with the mounted keys, money moved in the shared PostgreSQL.
        # `rtw order start` prints the saga's workflow id, order-<order id>, on a line of its own.
        workflow_ids = re.findall(r"^(order-[\w.-]+)$", test_logs, flags=re.MULTILINE)
        assert workflow_ids, f"no order started by the helm test pods:\n{test_logs}"
        client = await Client.connect(dev_server.address)  # no codec: sees what the server stores
        handle = client.get_workflow_handle(workflow_ids[0])
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
        history = await handle.fetch_history()
        sealed = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
        assert sealed.metadata["encoding"] == ENCODING

        codec = next(p for p in release if component(p.manifest) == "codec-server")
        opened = decode(codec, sealed)
        assert json.loads(opened.data)["order_id"] == workflow_ids[0].removeprefix("order-")

        ledger = state_cli(
            "payments",
            "ledger",
            "--order-id",
            workflow_ids[0][len("order-") :],
            "--json",
            database_url=host_db_url,
        )
        assert [e["kind"] for e in ledger] == ["authorization", "capture"], ledger
        assert ledger[0]["amount_cents"] == ledger[1]["amount_cents"] > 0

        # The pods end as the kubelet ends them: SIGTERM, a drain, exit 0 within the grace period.
        def stop(pod: PlayedPod) -> tuple[dict[str, int], float]:
            began = time.monotonic()
            return pod.stop(), time.monotonic() - began

        with ThreadPoolExecutor(len(release)) as pool:
            stops = dict(zip([p.name for p in release], pool.map(stop, release), strict=True))
        assert all(set(codes.values()) == {0} for codes, _ in stops.values()), stops
        slowest = max(stops, key=lambda name: stops[name][1])

        with capsys.disabled():
            skipped = ", ".join(f"{kind} x{n}" for kind, n in sorted(plan.not_run.items()))
            print(
                f"\nkube play (podman {'.'.join(map(str, podman_version()))}): "
                f"{len(played)} pods in {time.monotonic() - started:.0f}s"
                f" (slowest to stop: {slowest}, {stops[slowest][1]:.0f}s); "
                f"not run by podman (tests/chart checks them): {skipped}"
            )


def decode(codec_server: PlayedPod, payload: Payload) -> Payload:
    """POST /decode to the codec-server pod, with a token from its mounted Secret."""
    port = codec_server.spec_containers[0]["ports"][0]["containerPort"]
    body = json_format.MessageToJson(Payloads(payloads=[payload])).encode()
    request = urllib.request.Request(
        f"http://{codec_server.ip}:{port}/decode",
        data=body,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        decoded = json_format.Parse(response.read(), Payloads())
    return decoded.payloads[0]


def state_cli(*args: str, database_url: str) -> Any:
    """`rtw ARGS` against the release's database, from the host; its JSON output."""
    env = {**os.environ, "RTW_DATABASE_URL": database_url}
    proc = subprocess.run(
        [sys.executable, "-m", "services", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
