"""deploy/tools/install-system-packages.sh, the first step of `make test`: installs what is
missing with apt-get as root, and otherwise says in one line what needs root."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "tools" / "install-system-packages.sh"
MAKEFILE = ROOT / "Makefile"

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="acting as another user or running apt-get needs root"
)


@pytest.fixture
def bin_dir() -> Iterator[Path]:
    """An empty directory every user can read (pytest's tmp_path is private to root, and
    apt-get runs its download methods as the `_apt` user)."""
    made = Path(tempfile.mkdtemp(prefix="rtw-bin-"))
    made.chmod(0o755)
    yield made
    shutil.rmtree(made)


def path_without(bin_dir: Path, *hidden: str) -> str:
    """A PATH holding every command of this machine's bin directories except `hidden`."""
    for directory in ("/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"):
        if not Path(directory).is_dir():
            continue
        for entry in Path(directory).iterdir():
            link = bin_dir / entry.name
            if entry.name not in hidden and not link.exists():
                link.symlink_to(entry)
    return str(bin_dir)


def run(path: str, *, user: str | None = None) -> subprocess.CompletedProcess[str]:
    command = ["bash", str(SCRIPT)]
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    return subprocess.run(
        command,
        env={"PATH": path, "HOME": "/tmp"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_make_test_and_ci_run_share_it() -> None:
    text = MAKEFILE.read_text(encoding="utf-8")
    assert "bash deploy/tools/install-system-packages.sh" in text
    test_target = next(line for line in text.splitlines() if line.startswith("test:"))
    assert "system-packages" in test_target.split()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci
    assert "apt-get install -y -qq make" in ci, "only `make` itself is installed by .ci/run"
    for step in ("chromium", "make image", "make lint"):
        assert step not in ci, f".ci/run adds {step!r}: make test must do it"


def test_nothing_to_do_when_every_package_is_there() -> None:
    result = run(os.environ["PATH"] + ":/usr/sbin:/sbin")

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "install-system-packages: ok: every package the tests need is installed"
    ]


@needs_root
def test_without_root_or_sudo_one_line_says_what_needs_root(bin_dir: Path) -> None:
    path = path_without(bin_dir, "wrk", "sudo")

    result = run(path, user="nobody")

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "install-system-packages: installing wrk needs root: run 'apt-get install -y wrk' as "
        "root (or install sudo), then make test again"
    ]


@needs_root
def test_as_root_it_installs_what_is_missing_with_apt_get(bin_dir: Path) -> None:
    """wrk hidden from PATH counts as missing: apt-get installs it (already there, so
    nothing changes on this machine) and the script succeeds."""
    path = path_without(bin_dir, "wrk")

    result = run(path)

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "install-system-packages: installing wrk",
        "install-system-packages: installed wrk",
    ]
