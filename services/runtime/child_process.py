"""rtw services as child processes: spawn `python -m services …`, wait for `/readyz`."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiohttp


async def spawn_rtw(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    log_file: Path | None = None,
    module: str = "services",
) -> asyncio.subprocess.Process:
    """Start `python -m MODULE ARGS` with `env` over this process's environment; its output
    goes to `log_file` (appended) or, without one, to this process's terminal.

    The child runs in a session of its own, so a terminal's Ctrl+C (SIGINT to the foreground
    process group) reaches only the parent, which stops its children with one SIGTERM each:
    one shutdown, one drain, instead of a SIGINT and then a SIGTERM that force them down.
    """
    out: object = None
    handle = None
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handle = log_file.open("ab")
        out = handle
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            *args,
            env={**os.environ, **env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,  # type: ignore[arg-type]
            stderr=out,  # type: ignore[arg-type]
            start_new_session=True,
        )
    finally:
        if handle is not None:
            handle.close()


async def wait_until_ready(
    process: asyncio.subprocess.Process,
    health_port: int,
    *,
    timeout: float,
    what: str,
    log_file: Path | None,
    error: type[RuntimeError],
) -> None:
    """Poll `/readyz` on `health_port` until 200. Raise `error` naming `what` (and the log
    file) when the process exits first or `timeout` seconds pass."""
    url = f"http://127.0.0.1:{health_port}/readyz"
    deadline = asyncio.get_running_loop().time() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while True:
            if process.returncode is not None:
                where = f"; see {log_file}" if log_file else ""
                raise error(f"{what} exited with {process.returncode}{where}")
            try:
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise error(f"{what} not ready after {timeout}s")
            await asyncio.sleep(0.1)
