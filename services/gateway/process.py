"""The gateway as a child process (`rtw dev`, tests, benchmarks)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.runtime.child_process import spawn_rtw, wait_until_ready
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
        """Spawn the gateway and wait until `/readyz` answers 200 (stopped if it does not)."""
        self.process = await spawn_rtw(
            ["gateway", "--port", str(self.port), "--health-port", str(self.health_port)],
            env=self.env,
            log_file=self.log_file,
        )
        try:
            await wait_until_ready(
                self.process,
                self.health_port,
                timeout=timeout,
                what="gateway",
                log_file=self.log_file,
                error=GatewayProcessError,
            )
        except GatewayProcessError:
            await self.stop()
            raise

    async def stop(self, *, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the gateway and wait for its exit code (killed after `timeout`)."""
        if self.process is None:
            return 0
        return await stop_process(self.process, sig=sig, timeout=timeout)
