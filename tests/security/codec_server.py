"""A real `rtw codec-server` process for the tests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import aiohttp

from services.runtime.devserver import free_port


@contextmanager
def codec_server_process(
    keys_file: Path,
    token_file: Path | None,
    log_file: Path,
    *,
    origins: str = "http://ui.test",
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """Start `rtw codec-server`; yield its base URL; SIGTERM it on exit (exit 0 asserted)."""
    port = free_port()
    env = {
        **os.environ,
        "RTW_CODEC_KEYS_FILE": str(keys_file),
        "RTW_CODEC_SERVER_TOKEN_FILE": str(token_file) if token_file else "",
        "RTW_CODEC_SERVER_CORS_ORIGINS": origins,
        "RTW_CODEC_SERVER_HOST": "127.0.0.1",
        "RTW_CODEC_SERVER_PORT": str(port),
        "RTW_LOG_FORMAT": "json",
        **(extra_env or {}),
    }
    with log_file.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services", "codec-server"], env=env, stdout=log, stderr=log
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0, log_file.read_text()


async def wait_healthy(url: str, *, timeout: float = 30) -> None:
    """Poll /healthz until 200."""
    async with aiohttp.ClientSession() as http, asyncio.timeout(timeout):
        while True:
            try:
                async with http.get(f"{url}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
