"""`rtw` answers `--version` and `-h`, and its help texts read whole."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from services.cli import app
from services.runtime.telemetry import service_version


def rtw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "rtw"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "500"},
        timeout=60,
        check=False,
    )


def commands(group: TyperGroup, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the CLI, groups included."""
    found = [path]
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            found += commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


ROOT = typer.main.get_command(app)
assert isinstance(ROOT, TyperGroup)


def test_version() -> None:
    result = rtw("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"rtw {service_version()}"


def test_dash_h_is_help() -> None:
    short = rtw("order", "start", "-h")
    assert short.returncode == 0, short.stderr
    assert "Usage: rtw order start" in short.stdout
    assert short.stdout == rtw("order", "start", "--help").stdout


@pytest.mark.parametrize("path", commands(ROOT), ids=lambda p: " ".join(p) or "rtw")
def test_every_command_answers_dash_h_with_whole_sentences(path: tuple[str, ...]) -> None:
    short = CliRunner().invoke(app, [*path, "-h"], prog_name="rtw", env={"COLUMNS": "500"})
    assert short.exit_code == 0, short.output
    assert "Usage: rtw" in short.stdout
    # On a wide terminal each command's summary is one row: a row that starts blank in the
    # name column continues a sentence the docstring's line breaks cut.
    rows = re.findall(r"^│ (\S*)\s+(.*?)\s*│$", short.stdout.split("Commands", 1)[-1], re.M)
    if "Commands" in short.stdout:
        assert rows
        assert all(name for name, _ in rows), short.stdout
