#!/usr/bin/env python3
"""Check that a release tag, pyproject.toml and the chart agree; print the release's names.

`release-version.py --tag v1.2.3 --owner Acme` exits 1 with one line per disagreement, or
prints the release workflow's step outputs:

    version=1.2.3
    image=ghcr.io/acme/rtw
    chart-repository=oci://ghcr.io/acme/charts

The tag must be `v` + a SemVer 2 version (Helm requires SemVer of a chart version), equal to
pyproject.toml's `version`, Chart.yaml's `version` and `appVersion`; values.yaml's `image.tag`
must be empty (the chart then runs the image tagged with its appVersion) or that version.
Registry names are lower-cased, as ghcr.io requires. Standard library only (the workflow runs
it with the runner's python3); `--root DIR` checks another checkout.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: v + SemVer 2.0 (https://semver.org) with an optional pre-release; no build metadata, whose
#: `+` an image tag cannot hold.
TAG = re.compile(
    r"v(?P<version>(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?)"
)
REGISTRY = "ghcr.io"


def top_level(text: str, key: str) -> str | None:
    """The value of a top-level `key:` in simple YAML (Chart.yaml), quotes removed."""
    found = re.search(rf"^{key}:[ \t]*(.*?)[ \t]*(#.*)?$", text, flags=re.MULTILINE)
    return found.group(1).strip("\"'") if found else None


def image_tag(values: str) -> str | None:
    """`image.tag` of values.yaml: the `tag:` line inside the top-level `image:` block."""
    block = re.search(r"^image:[ \t]*\n((?:[ \t]+.*\n|[ \t]*#.*\n|\n)*)", values, re.MULTILINE)
    if not block:
        return None
    found = re.search(r"^[ \t]+tag:[ \t]*(.*?)[ \t]*(#.*)?$", block.group(1), flags=re.MULTILINE)
    return found.group(1).strip("\"'") if found else None


def problems(root: Path, version: str) -> list[str]:
    """One line per file that disagrees with `version`."""
    found = []
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    if project["version"] != version:
        found.append(f"pyproject.toml: version is {project['version']}")
    chart = (root / "charts" / "rtw" / "Chart.yaml").read_text(encoding="utf-8")
    for key in ("version", "appVersion"):
        if (value := top_level(chart, key)) != version:
            found.append(f"charts/rtw/Chart.yaml: {key} is {value}")
    tag = image_tag((root / "charts" / "rtw" / "values.yaml").read_text(encoding="utf-8"))
    if tag is None:
        found.append("charts/rtw/values.yaml: no image.tag")
    elif tag not in ("", version):
        found.append(f"charts/rtw/values.yaml: image.tag is {tag} (leave it empty: appVersion)")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", required=True, help="the pushed tag, e.g. v1.2.3")
    parser.add_argument("--owner", required=True, help="the repository owner (GitHub)")
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout to check")
    args = parser.parse_args(argv)
    match = TAG.fullmatch(args.tag)
    if not match:
        print(f"release: tag {args.tag!r} is not v<SemVer>, e.g. v1.2.3", file=sys.stderr)
        return 1
    version = match.group("version")
    found = problems(args.root, version)
    if found:
        print(f"release: tag {args.tag} says {version}, but:", file=sys.stderr)
        for line in found:
            print(f"  {line}", file=sys.stderr)
        print(
            "release: set the version in pyproject.toml and charts/rtw/Chart.yaml (version and"
            " appVersion) together, commit, and tag that commit (docs/releasing.md)",
            file=sys.stderr,
        )
        return 1
    owner = args.owner.lower()
    print(f"version={version}")
    print(f"image={REGISTRY}/{owner}/rtw")
    print(f"chart-repository=oci://{REGISTRY}/{owner}/charts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
