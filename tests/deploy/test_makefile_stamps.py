"""The Makefile's install stamps: `make demo` installs the demo extra once, `make test` after
it upgrades the same venv to the dev extra, and `make demo` after that installs nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: A stand-in for python: records each call; `-m venv DIR` makes DIR/bin/python (itself).
FAKE_PYTHON = """#!/usr/bin/env bash
echo "$*" >> "$CALLS"
if [[ "$1 $2" == "-m venv" ]]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; fi
"""


def make(checkout: Path, target: str) -> list[str]:
    """Run `make TARGET` in `checkout` with the stand-in python; the python calls it made."""
    calls = checkout / "calls.log"
    calls.write_text("")
    result = subprocess.run(
        ["make", "--no-print-directory", target, f"PYTHON={checkout / 'python'}"],
        cwd=checkout,
        env={**os.environ, "CALLS": str(calls)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return calls.read_text().splitlines()


def test_demo_then_test_upgrades_the_venv_and_demo_after_installs_nothing(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "python").write_text(FAKE_PYTHON)
    (tmp_path / "python").chmod(0o755)

    first = make(tmp_path, "install-demo")
    assert first[0] == "-m venv .venv"
    assert any(call.endswith("-e .[demo]") for call in first), first
    assert not any("[dev]" in call for call in first)

    assert make(tmp_path, "install-demo") == [], "a second `make demo` installs nothing"

    upgrade = make(tmp_path, "install")  # what `make test` does first
    assert [c for c in upgrade if "pip install" in c] == [
        "-m pip install --quiet --disable-pip-version-check -e .[dev]"
    ]
    assert "-m venv .venv" not in upgrade, "the same venv, upgraded"

    assert make(tmp_path, "install-demo") == [], "the dev extra holds the demo's"
    assert make(tmp_path, "install") == []

    with (tmp_path / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n# a changed dependency list\n")
    assert any(c.endswith("-e .[demo]") for c in make(tmp_path, "install-demo"))
    assert any(c.endswith("-e .[dev]") for c in make(tmp_path, "install"))
