"""podman for the container tests: the private containers.conf, one call helper, the image build."""

from __future__ import annotations

import os
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "deploy" / "tools" / "build-image.sh"
#: The image `make image` builds (deploy/tools/build-image.sh names it after pyproject's version).
IMAGE = os.environ.get("RTW_IMAGE", "localhost/rtw:0.1.0")


def podman_env() -> dict[str, str]:
    """The environment for podman: the private containers.conf written by the build script."""
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(ROOT / ".tools" / "container" / "containers.conf"))
    return env


def podman(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `podman ARGS`; on failure the assertion shows its output."""
    proc = subprocess.run(
        ["podman", *args],
        capture_output=True,
        text=True,
        env=podman_env(),
        timeout=timeout,
        check=False,
    )
    if check:
        assert proc.returncode == 0, f"podman {' '.join(args)}: {proc.returncode}\n{proc.stderr}"
    return proc


@cache
def podman_version() -> tuple[int, int]:
    """(major, minor) of the podman on PATH."""
    out = podman("version", "--format", "{{.Client.Version}}").stdout
    found = re.match(r"(\d+)\.(\d+)", out.strip())
    assert found, f"unexpected podman version {out!r}"
    return int(found.group(1)), int(found.group(2))


def build_image() -> str:
    """The image, built (or confirmed up to date) by the same script CI and `make image` use."""
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        capture_output=True,
        text=True,
        env=dict(os.environ),  # without CONTAINERS_CONF the script writes the private one
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, f"build-image.sh failed:\n{proc.stdout[-4000:]}{proc.stderr}"
    if podman("image", "exists", IMAGE, check=False).returncode != 0:
        pytest.fail(f"{IMAGE} missing after build-image.sh")
    return IMAGE
