#!/usr/bin/env python3
"""Generate the values table of charts/rtw/README.md from the `# --` comments in values.yaml.

A key is documented by a comment block right above it that starts with `# --`; following `#` lines
continue the description. `# -- (type) text` overrides the inferred type (useful for null
defaults). The table replaces everything between the `values-table` markers in the README.

Usage: gen-chart-readme.py [--chart DIR] [--check]
  --check  exit 1 (and print a hint) if the README table is out of date instead of writing it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

START = "<!-- values-table:start -->"
END = "<!-- values-table:end -->"
KEY_RE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.\-]+|\"[^\"]+\"):(?:\s|$)")
TYPE_RE = re.compile(r"^\((?P<type>[a-z]+)\)\s*")


def _lookup(values: Any, path: list[str]) -> Any:
    node = values
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "null"


def parse(values_text: str) -> list[tuple[str, str, str, str]]:
    """Return (key path, type, default as JSON, description) for every documented key."""
    values = yaml.safe_load(values_text) or {}
    rows: list[tuple[str, str, str, str]] = []
    stack: list[tuple[int, str]] = []
    desc: list[str] | None = None
    for line in values_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            desc = [stripped[4:].strip()]
            continue
        if stripped.startswith("#"):
            if desc is not None:
                desc.append(stripped[1:].strip())
            continue
        if not stripped or stripped.startswith("-"):
            if not stripped:
                desc = None
            continue
        match = KEY_RE.match(line)
        if match is None:
            desc = None
            continue
        indent = len(match["indent"])
        key = match["key"].strip('"')
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        if desc is not None:
            path = [k for _, k in stack]
            default = _lookup(values, path)
            text = " ".join(part for part in desc if part)
            type_match = TYPE_RE.match(text)
            if type_match:
                kind, text = type_match["type"], text[type_match.end() :]
            else:
                kind = _type_of(default)
            rows.append((".".join(path), kind, json.dumps(default, separators=(",", ":")), text))
            desc = None
    return rows


def table(rows: list[tuple[str, str, str, str]]) -> str:
    """Render the rows as a Markdown table."""
    out = ["| Key | Type | Default | Description |", "|-----|------|---------|-------------|"]
    for key, kind, default, text in rows:
        cell, note = default.replace("|", "\\|"), text.replace("|", "\\|")
        out.append(f"| `{key}` | {kind} | `{cell}` | {note} |")
    return "\n".join(out)


def render_readme(readme: str, values_text: str) -> str:
    """Return the README with its values table regenerated."""
    if START not in readme or END not in readme:
        raise SystemExit(f"README lacks the {START} / {END} markers")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table(parse(values_text))}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_chart = Path(__file__).resolve().parents[2] / "charts" / "rtw"
    parser.add_argument("--chart", type=Path, default=default_chart)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    readme_path = args.chart / "README.md"
    readme = readme_path.read_text()
    new = render_readme(readme, (args.chart / "values.yaml").read_text())
    if args.check:
        if new != readme:
            print(
                f"{readme_path} values table is out of date: run "
                "python deploy/tools/gen-chart-readme.py",
                file=sys.stderr,
            )
            return 1
        return 0
    if new != readme:
        readme_path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
