"""A real TLS-terminating proxy (nginx from Debian's packages) in front of the dev server."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from services.runtime.devserver import free_port
from tests.security.pki import Issued

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")


def nginx_missing() -> str | None:
    """Why nginx cannot run here (None when it can)."""
    if not Path(NGINX).exists():
        return "nginx is not installed (apt-get install nginx-light libnginx-mod-stream)"
    if not STREAM_MODULE.exists():
        return "nginx's stream module is missing (apt-get install libnginx-mod-stream)"
    return None


class Nginx:
    """nginx with a config of ours in `directory`; `reload()` applies a rewritten one."""

    def __init__(self, directory: Path, upstream: str) -> None:
        self.directory = directory
        self.upstream = upstream
        self.mtls_port = free_port()
        self.api_key_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def mtls_address(self) -> str:
        """The mTLS front (stream proxy: client certificate required, ALPN h2)."""
        return f"127.0.0.1:{self.mtls_port}"

    @property
    def api_key_address(self) -> str:
        """The API-key front (gRPC proxy: `authorization: Bearer <key>` required)."""
        return f"127.0.0.1:{self.api_key_port}"

    def configure(
        self, *, server: Issued, client_cas: Sequence[Path], api_keys: Sequence[str]
    ) -> None:
        """Write the config: trust `client_cas` for client certificates, accept `api_keys`."""
        bundle = self.directory / "client-cas.pem"
        bundle.write_bytes(b"".join(path.read_bytes() for path in client_cas))
        keys = "\n".join(f'        "Bearer {key}" 1;' for key in api_keys)
        d = self.directory
        (d / "nginx.conf").write_text(
            f"""
load_module {STREAM_MODULE};
user root;
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
stream {{
    server {{
        listen 127.0.0.1:{self.mtls_port} ssl;
        ssl_certificate {server.cert};
        ssl_certificate_key {server.key};
        ssl_client_certificate {bundle};
        ssl_verify_client on;
        ssl_alpn h2;
        proxy_pass {self.upstream};
    }}
}}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    map $http_authorization $api_key_ok {{
        default 0;
{keys}
    }}
    server {{
        listen 127.0.0.1:{self.api_key_port} ssl http2;
        ssl_certificate {server.cert};
        ssl_certificate_key {server.key};
        location / {{
            if ($api_key_ok = 0) {{ return 401; }}
            grpc_pass grpc://{self.upstream};
        }}
    }}
}}
""",
            encoding="utf-8",
        )

    def start(self) -> None:
        """Start nginx and wait until both ports accept connections."""
        self._process = subprocess.Popen(
            [NGINX, "-p", str(self.directory), "-c", str(self.directory / "nginx.conf"),
             "-e", str(self.directory / "error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        for port in (self.mtls_port, self.api_key_port):
            _wait_for_port(port, self._process)

    def reload(self) -> None:
        """Apply the rewritten config (SIGHUP; open connections are kept by old workers).
        A config nginx would refuse fails here, not silently later."""
        assert self._process is not None
        check = subprocess.run(
            [NGINX, "-t", "-q", "-p", str(self.directory), "-c", str(self.directory / "nginx.conf"),
             "-e", str(self.directory / "error.log")],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert check.returncode == 0, f"nginx refuses the new config: {check.stderr}"
        self._process.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        """Stop nginx."""
        if self._process is not None:
            self._process.send_signal(signal.SIGQUIT)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"nginx exited: {process.stderr.read().decode() if process.stderr else ''}"
            )
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nginx not listening on {port}")


@contextmanager
def nginx(directory: Path, upstream: str, **config: object) -> Iterator[Nginx]:
    """A configured, running nginx (see `Nginx.configure` for `config`)."""
    proxy = Nginx(directory, upstream)
    proxy.configure(**config)  # type: ignore[arg-type]
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


async def settle() -> None:
    """Give nginx a moment to swap workers after a reload."""
    await asyncio.sleep(0.5)
