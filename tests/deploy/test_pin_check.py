"""`deploy/tools/check-pins.py` (run by `make lint`): unpinned dependencies fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "deploy" / "tools" / "check-pins.py"
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements" / "image.lock"


def check(pyproject: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), str(pyproject), str(LOCK)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_project_passes() -> None:
    result = check(PYPROJECT)
    assert result.returncode == 0, result.stderr


def test_unpinned_loose_or_unlocked_dependencies_fail(tmp_path: Path) -> None:
    text = PYPROJECT.read_text(encoding="utf-8")
    changed = (
        text.replace('"fastapi==0.165.0"', '"fastapi>=0.100"')
        .replace('"tenacity==9.2.1"', '"tenacity==9.2.0"')
        .replace('"pytest==9.2.0"', '"pytest"')
    )
    assert changed.count("fastapi>=0.100") == 1
    path = tmp_path / "pyproject.toml"
    path.write_text(changed, encoding="utf-8")
    result = check(path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert any("'fastapi>=0.100' must be pinned" in line for line in lines)
    assert any("tenacity==9.2.0 is not in image.lock" in line for line in lines)
    assert any("optional-dependencies.dev: 'pytest' must be pinned" in line for line in lines)
    assert len(lines) == 3
