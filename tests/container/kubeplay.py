"""Rendered chart objects run with `podman kube play`, and what stands in for the cluster.

What podman does with them, read from its source (containers/podman, the tags named):
- Kinds: Pod, Deployment, ConfigMap (an input to the pods of the same file), Secret and
  PersistentVolumeClaim; every other kind is logged and skipped (v4.3.1
  pkg/domain/infra/abi/play.go, `switch kind`). A hook Job runs here as the Pod of its template
  (restartPolicy Never; `backoffLimit` and `activeDeadlineSeconds` are not applied), hooks in
  helm's order: by event, then weight, then name. Services, NetworkPolicies, autoscalers,
  disruption budgets, ServiceAccounts, Ingresses and the KEDA/Prometheus objects do not run:
  tests/chart renders and checks them.
- Probes: podman turns a livenessProbe (and from v4.4 a startupProbe) into a healthcheck that
  runs `curl` in a shell inside the container (pkg/specgen/generate/kube/kube.go,
  setupLivenessProbe in v4.3.1, probeToHealthConfig in v4.9.3). The image has neither, so
  podman gets the pods without probes and `await_probes` runs each one as the kubelet does:
  an HTTP GET from the node to the pod's IP and the named port.
- fsGroup: podman does not apply it (no FSGroup in pkg/specgen/generate/kube). The kubelet
  writes secret-volume files as root:<fsGroup> with `defaultMode`; `project_secret` does that
  before podman mounts the volume (podman reuses a volume named after the secret, and
  rewriting a file keeps its owner).
- podman < 4.4 dereferences a secret volume's unset `optional` and panics (fixed in v4.4.0 by
  9a6b701558): the Kubernetes default, `optional: false`, is written out there.
- podman < 4.4 reads a stored `kind: Secret` wrongly for `secretKeyRef` and mounts its values
  still base64-encoded (containers/podman#16269 and #16625, fixed in v4.4.0 by db4d018711);
  podman < 4.5 ignores `items` (8b6a7c1826). `create_secret` stores each Secret in the form the
  running podman reads.
- podman < 4.8 publishes every containerPort on the host (containers/podman#17028, fixed in
  v4.8.0 by f52b02f406), so three workers declaring port 8080 collide: there each port gets a
  free loopback hostPort.
- Services have no virtual IP here: `service_aliases` gives a pod that calls a Service by name
  a hostAliases entry pointing at the pod the Service selects; the Service's port must equal
  its target port.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import secrets
import socket
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.runtime.devserver import free_port
from tests.container.podman import podman, podman_version

Manifest = dict[str, Any]

#: Kinds run here: Deployments and Pods by podman, Jobs as the Pod of their template.
WORKLOADS = ("Deployment", "Pod", "Job")
#: The hook events of `helm install` followed by `helm test`, in the order helm runs them.
INSTALL_EVENTS = ("pre-install", "post-install", "test")


def hook_events(obj: Manifest) -> set[str]:
    """The `helm.sh/hook` events of an object (empty for a release object)."""
    value = (obj["metadata"].get("annotations") or {}).get("helm.sh/hook", "")
    return {event.strip() for event in value.split(",") if event.strip()}


def hook_weight(obj: Manifest) -> int:
    return int((obj["metadata"].get("annotations") or {}).get("helm.sh/hook-weight", "0"))


def component(obj: Manifest) -> str | None:
    labels: dict[str, str] = obj["metadata"].get("labels") or {}
    return labels.get("app.kubernetes.io/component")


def pod_template(obj: Manifest) -> Manifest:
    """The pod (metadata and spec) a workload runs; shared with `obj`, not a copy."""
    if obj["kind"] == "Pod":
        return obj
    template: Manifest = obj["spec"]["template"]
    return template


def as_pod(obj: Manifest) -> Manifest:
    """A Pod or Deployment as rendered; a Job as the Pod of its template, under the Job's name."""
    obj = copy.deepcopy(obj)
    if obj["kind"] == "Job":
        template = obj["spec"]["template"]
        meta = dict(template.get("metadata", {}))
        meta["name"] = obj["metadata"]["name"]
        # The Job's hook annotations (event, weight) stay with its pod.
        annotations = {**(obj["metadata"].get("annotations") or {}), **meta.get("annotations", {})}
        if annotations:
            meta["annotations"] = annotations
        obj = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]}
    meta = obj["metadata"]
    if "name" not in meta and "generateName" in meta:
        meta["name"] = meta["generateName"] + secrets.token_hex(3)
    return obj


@dataclass
class InstallPlan:
    """The rendered release, sorted the way `helm install` and `helm test` would run it."""

    config_maps: list[Manifest]
    services: list[Manifest]
    workloads: list[Manifest]
    hooks: dict[str, list[Manifest]]
    not_run: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, objs: Iterable[Manifest]) -> InstallPlan:
        plan = cls(config_maps=[], services=[], workloads=[], hooks={e: [] for e in INSTALL_EVENTS})
        for obj in objs:
            events = hook_events(obj)
            kind = obj["kind"]
            if not events and kind == "ConfigMap":
                plan.config_maps.append(obj)
            elif not events and kind == "Service":
                plan.services.append(obj)
            elif not events and kind in ("Deployment", "Pod"):
                plan.workloads.append(obj)
            elif events and kind in WORKLOADS:
                for event in events & set(INSTALL_EVENTS):
                    plan.hooks[event].append(as_pod(obj))
            if kind not in ("ConfigMap", *WORKLOADS):
                plan.not_run[kind] += 1
        for pods in plan.hooks.values():
            pods.sort(key=lambda p: (hook_weight(p), p["metadata"]["name"]))
        return plan

    def pods(self) -> list[Manifest]:
        """Every pod-bearing object the plan runs."""
        return [*self.workloads, *(p for pods in self.hooks.values() for p in pods)]


def for_podman(obj: Manifest, *, host_aliases: list[Manifest] | None = None) -> Manifest:
    """A copy of `obj` that the installed podman runs as the cluster would (module docstring)."""
    version = podman_version()
    out = copy.deepcopy(obj)
    spec = pod_template(out)["spec"]
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            container.pop(probe, None)
        if version < (4, 8):
            for port in container.get("ports", []):
                port.setdefault("hostPort", free_port())
                port.setdefault("hostIP", "127.0.0.1")
    if version < (4, 4):
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                volume["secret"].setdefault("optional", False)
    if host_aliases:
        spec["hostAliases"] = [*spec.get("hostAliases", []), *host_aliases]
    return out


@dataclass
class SecretUse:
    """How the rendered pods read one Secret."""

    env: bool = False
    volumes: list[tuple[Manifest, int | None]] = field(default_factory=list)  # (source, fsGroup)


def secret_uses(pods: Iterable[Manifest]) -> dict[str, SecretUse]:
    """Every Secret the pods read, by name: through env (secretKeyRef, envFrom) or volumes."""
    uses: dict[str, SecretUse] = {}
    for obj in pods:
        spec = pod_template(obj)["spec"]
        fs_group = (spec.get("securityContext") or {}).get("fsGroup")
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            for env in container.get("env", []):
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    uses.setdefault(ref["name"], SecretUse()).env = True
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    uses.setdefault(source["secretRef"]["name"], SecretUse()).env = True
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                name = volume["secret"]["secretName"]
                uses.setdefault(name, SecretUse()).volumes.append((volume["secret"], fs_group))
            if "projected" in volume:
                pytest.fail(f"projected volume {volume['name']}: podman kube play cannot run it")
    return uses


def create_secret(name: str, data: Mapping[str, bytes], use: SecretUse, workdir: Path) -> None:
    """`podman secret create` in the form this podman reads (module docstring)."""
    encoded = {key: base64.b64encode(value).decode() for key, value in data.items()}
    if podman_version() >= (4, 4):
        stored: Manifest = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}}
        stored["data"] = encoded
    elif use.env and use.volumes:
        pytest.fail(f"podman < 4.4 cannot serve Secret {name} both as env and as a volume")
    elif use.env:
        stored = encoded  # a JSON map of base64 values: json.Unmarshal into map[string][]byte
    else:
        stored = {"data": {key: value.decode() for key, value in data.items()}}  # written as is
    path = workdir / f"secret-{name}.json"
    path.write_text(json.dumps(stored), encoding="utf-8")
    path.chmod(0o600)
    podman("secret", "create", name, str(path))
    path.unlink()
    for source, fs_group in use.volumes:
        project_secret(name, data, source, fs_group)


def project_secret(
    name: str, data: Mapping[str, bytes], source: Manifest, fs_group: int | None
) -> None:
    """Write a secret volume as the kubelet does: `items` (or every key) under their paths,
    owned by root and the pod's fsGroup, with `defaultMode` (or the item's own mode)."""
    if podman("volume", "exists", name, check=False).returncode != 0:
        podman("volume", "create", name)
    found = podman("volume", "inspect", "--format", "{{.Mountpoint}}", name).stdout
    mountpoint = Path(found.strip())
    items = source.get("items") or [{"key": key, "path": key} for key in data]
    for item in items:
        target = mountpoint / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data[item["key"]])
        os.chown(target, 0, fs_group if fs_group is not None else 0)
        target.chmod(item.get("mode", source.get("defaultMode", 0o644)))


def service_aliases(services: Iterable[Manifest], pods: Iterable[PlayedPod]) -> list[Manifest]:
    """hostAliases that resolve each Service's DNS names to the played pod it selects."""
    aliases: list[Manifest] = []
    pods = list(pods)
    for service in services:
        selector: dict[str, str] = service["spec"].get("selector") or {}
        matched = [p for p in pods if selector.items() <= p.labels.items()]
        if not selector or not matched:
            continue
        target = matched[0]
        for port in service["spec"]["ports"]:
            resolved = target.container_port(port.get("targetPort", port["port"]))
            if resolved != port["port"]:
                pytest.fail(
                    f"Service {service['metadata']['name']} port {port['port']} -> {resolved}:"
                    " podman has no port translation; render it with equal ports for this test"
                )
        name, namespace = service["metadata"]["name"], service["metadata"].get("namespace")
        names = [name]
        if namespace:
            names += [
                f"{name}.{namespace}",
                f"{name}.{namespace}.svc",
                f"{name}.{namespace}.svc.cluster.local",
            ]
        aliases.append({"ip": target.ip, "hostnames": names})
    return aliases


@dataclass
class PlayedPod:
    """A pod podman created from one rendered object."""

    id: str
    name: str
    ip: str
    manifest: Manifest  # as rendered (with its probes)
    containers: dict[str, str]  # container name in the manifest -> podman container id

    @property
    def labels(self) -> dict[str, str]:
        labels: dict[str, str] = pod_template(self.manifest)["metadata"].get("labels") or {}
        return labels

    @property
    def spec_containers(self) -> list[Manifest]:
        containers: list[Manifest] = pod_template(self.manifest)["spec"]["containers"]
        return containers

    def container_port(self, port: int | str) -> int:
        """A port number, or a container port's name resolved as the kubelet does."""
        if isinstance(port, int):
            return port
        for container in self.spec_containers:
            for declared in container.get("ports", []):
                if declared.get("name") == port:
                    return int(declared["containerPort"])
        pytest.fail(f"{self.name}: no container port named {port!r}")

    def logs(self) -> str:
        out = []
        for name, cid in self.containers.items():
            proc = podman("logs", cid, check=False)
            out.append(f"--- {self.name}/{name}\n{proc.stdout}{proc.stderr}")
        return "\n".join(out)

    def wait(self, *, timeout: float) -> dict[str, int]:
        """Exit code of every container, once all have exited."""
        codes = {}
        for name, cid in self.containers.items():
            proc = podman("wait", cid, timeout=timeout)
            codes[name] = int(proc.stdout.strip())
        return codes

    def stop(self) -> dict[str, int]:
        """SIGTERM, then SIGKILL after the pod's terminationGracePeriodSeconds (as the kubelet
        ends a pod); the exit code of every container."""
        grace = int(pod_template(self.manifest)["spec"].get("terminationGracePeriodSeconds", 30))
        podman("pod", "stop", "--time", str(grace), self.id, timeout=grace + 30)
        return {name: int(self.state(name)["ExitCode"]) for name in self.containers}

    def state(self, container: str) -> Manifest:
        """`podman inspect`'s State of one container, with its RestartCount."""
        out = podman(
            "inspect", "--format", "{{json .State}}|{{.RestartCount}}", self.containers[container]
        ).stdout.strip()
        state_json, restarts = out.rsplit("|", 1)
        state: Manifest = json.loads(state_json)
        state["RestartCount"] = int(restarts)
        return state


def play(
    objs: list[Manifest], *, config_maps: list[Manifest], network: str, workdir: Path, tag: str
) -> list[PlayedPod]:
    """`podman kube play` the objects (adapted with `for_podman` first) with the release's
    ConfigMaps on `network`; the pods podman made, matched to the rendered objects."""
    path = workdir / f"{tag}.yaml"
    path.write_text(yaml.safe_dump_all([*config_maps, *objs]), encoding="utf-8")
    out = podman("kube", "play", "--network", network, str(path), timeout=180).stdout
    pod_ids = _ids_under(out, "Pod:")
    pods = [_inspect_pod(pid) for pid in pod_ids]
    played = []
    for obj in objs:
        name = obj["metadata"]["name"]
        # v4.3.1 names a Deployment's pod <name>-pod-0, v4.9.3 <name>-pod; a Pod keeps its name.
        match = [p for p in pods if p[1] == name or p[1].startswith(f"{name}-pod")]
        assert len(match) == 1, f"{name}: pods {[p[1] for p in pods]}\n{out}"
        pid, pod_name, ip, by_ctr = match[0]
        containers = {}
        for container in pod_template(obj)["spec"]["containers"]:
            found = [cid for ctr, cid in by_ctr.items() if ctr.endswith(f"-{container['name']}")]
            assert len(found) == 1, f"{pod_name}: containers {sorted(by_ctr)}"
            containers[container["name"]] = found[0]
        played.append(PlayedPod(pid, pod_name, ip, obj, containers))
    return played


def _ids_under(output: str, header: str) -> list[str]:
    """The ids `podman kube play` lists under one header ("Pod:", "Container:")."""
    ids, current = [], ""
    for line in output.splitlines():
        line = line.strip()
        if line.endswith(":"):
            current = line
        elif current == header and len(line) == 64:
            ids.append(line)
    return ids


def _inspect_pod(pod_id: str) -> tuple[str, str, str, dict[str, str]]:
    """(id, name, IP on its network, container name -> id) of a pod."""
    found = json.loads(podman("pod", "inspect", pod_id).stdout)
    info = found[0] if isinstance(found, list) else found
    infra = info["InfraContainerID"]
    ip = podman(
        "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", infra
    ).stdout.strip()
    containers = {c["Name"]: c["Id"] for c in info["Containers"] if c["Id"] != infra}
    return pod_id, info["Name"], ip, containers


def remove_pods(pods: Iterable[PlayedPod]) -> None:
    """Remove the pods with their containers' anonymous volumes (the emptyDirs)."""
    for pod in pods:
        volumes: list[str] = []
        for cid in pod.containers.values():
            out = podman(
                "inspect", "--format", "{{range .Mounts}}{{.Name}} {{end}}", cid, check=False
            ).stdout
            volumes += out.split()
        podman("pod", "rm", "--force", "--time", "0", pod.id, check=False)
        for volume in volumes:
            if len(volume) == 64:  # anonymous; named ones (secrets) are removed by their owner
                podman("volume", "rm", "--force", volume, check=False)


def run_probe(pod: PlayedPod, container: Manifest, probe: Manifest) -> str | None:
    """Run one probe against the pod as the kubelet does; None when it passes, else why not."""
    timeout = float(probe.get("timeoutSeconds", 1))
    if "httpGet" in probe:
        get = probe["httpGet"]
        url = (
            f"{get.get('scheme', 'HTTP').lower()}://{pod.ip}:"
            f"{pod.container_port(get['port'])}{get.get('path', '/')}"
        )
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return None if 200 <= response.status < 400 else f"{url}: {response.status}"
        except urllib.error.HTTPError as exc:
            return f"{url}: {exc.code}"
        except OSError as exc:
            return f"{url}: {exc}"
    if "tcpSocket" in probe:
        port = pod.container_port(probe["tcpSocket"]["port"])
        try:
            with socket.create_connection((pod.ip, port), timeout=timeout):
                return None
        except OSError as exc:
            return f"tcp {pod.ip}:{port}: {exc}"
    if "exec" in probe:
        cid = pod.containers[container["name"]]
        proc = podman("exec", cid, *probe["exec"]["command"], check=False, timeout=timeout + 5)
        return None if proc.returncode == 0 else f"exec: {proc.returncode} {proc.stderr}"
    pytest.fail(f"{pod.name}: a probe this test cannot run: {probe}")


def await_probes(pod: PlayedPod) -> None:
    """The startup probe passes within its budget (initial delay + period x failures), then
    readiness and liveness each within theirs, for every container of the pod."""
    for container in pod.spec_containers:
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = container.get(kind)
            if not probe:
                continue
            period = float(probe.get("periodSeconds", 10))
            budget = float(probe.get("initialDelaySeconds", 0))
            budget += period * int(probe.get("failureThreshold", 3))
            deadline = time.monotonic() + budget
            while (why := run_probe(pod, container, probe)) is not None:
                state = pod.state(container["name"])
                if time.monotonic() > deadline or state["Status"] != "running":
                    pytest.fail(
                        f"{pod.name}/{container['name']} {kind} failed for {budget:g}s"
                        f" ({why}; {state['Status']}):\n{pod.logs()}"
                    )
                time.sleep(min(period, 1.0))
