"""The gateway as a child process (`rtw dev`, tests, benchmarks)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from services.runtime.devserver import stop_process


class GatewayProcessError(RuntimeError):
    """The gateway process did not become ready."""


@dataclass
class GatewayProcess:
    """One `rtw gateway --port P --health-port H` child process."""

    port: int
    health_port: int
    env: Mapping[str, str]
    log_file: Path | None = None
    process: asyncio.subprocess.Process | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        """Base URL of the API on loopback."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self, *, timeout: float = 60.0) -> None:
        """Spawn the gateway and wait until `/readyz` answers 200."""
        handle = None
        out: object = None
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            handle = self.log_file.open("ab")
            out = handle
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "services", "gateway",
                "--port", str(self.port), "--health-port", str(self.health_port),
                env={**os.environ, **self.env},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,  # type: ignore[arg-type]
                stderr=out,  # type: ignore[arg-type]
            )  # fmt: skip
        finally:
            if handle is not None:
                handle.close()
        await self._wait_ready(timeout)

    async def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        url = f"http://127.0.0.1:{self.health_port}/readyz"
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while True:
                if self.process.returncode is not None:
                    where = f"; see {self.log_file}" if self.log_file else ""
                    raise GatewayProcessError(
                        f"gateway exited with {self.process.returncode}{where}"
                    )
                try:
                    async with http.get(url) as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    await self.stop()
                    raise GatewayProcessError(f"gateway not ready after {timeout}s")
                await asyncio.sleep(0.1)

    async def stop(self, *, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the gateway and wait for its exit code (killed after `timeout`)."""
        if self.process is None:
            return 0
        return await stop_process(self.process, sig=sig, timeout=timeout)
