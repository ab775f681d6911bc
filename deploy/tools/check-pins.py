#!/usr/bin/env python3
"""Fail when a dependency in pyproject.toml is not pinned to one exact version (`==`).

Runtime dependencies must also be in the image lock at that version, with hashes. Used by
`make lint` (and CI); `check-pins.py [PYPROJECT [LOCK]]` checks other files.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
#: `name==version ... \` followed by a `--hash=` line.
_ENTRY = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)[^\n]*\\\n\s+--hash=", re.M)


def locked_versions(lock: Path) -> dict[str, str]:
    """name -> version of each hashed `name==version` entry of a uv/pip-compile lock."""
    found: dict[str, str] = {}
    text = lock.read_text(encoding="utf-8")
    for match in _ENTRY.finditer(text):
        found[canonicalize_name(match.group(1).split("[")[0])] = match.group(2)
    return found


def problems(pyproject: Path, lock: Path) -> list[str]:
    """One line per unpinned, loosely pinned or unlocked dependency."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    groups = {"dependencies": project.get("dependencies", [])}
    for extra, deps in project.get("optional-dependencies", {}).items():
        groups[f"optional-dependencies.{extra}"] = deps
    locked = locked_versions(lock)
    found: list[str] = []
    for group, deps in groups.items():
        for line in deps:
            try:
                requirement = Requirement(line)
            except InvalidRequirement as exc:
                found.append(f"{group}: {line!r} is not a valid requirement ({exc})")
                continue
            specs = list(requirement.specifier)
            if len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version:
                found.append(f"{group}: {line!r} must be pinned to one version with ==")
                continue
            if group == "dependencies":
                name = canonicalize_name(requirement.name)
                if locked.get(name) != specs[0].version:
                    found.append(
                        f"{group}: {requirement.name}=={specs[0].version} is not in "
                        f"{lock.name} with hashes at that version (run `make lock`)"
                    )
    return found


def main(argv: list[str]) -> int:
    pyproject = Path(argv[1]) if len(argv) > 1 else ROOT / "pyproject.toml"
    lock = Path(argv[2]) if len(argv) > 2 else ROOT / "requirements" / "image.lock"
    found = problems(pyproject, lock)
    for line in found:
        print(f"check-pins: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
