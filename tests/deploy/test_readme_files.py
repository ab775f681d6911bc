"""Files the README and the docs tell a reader to use exist: `--file X`, `< X`, `@X`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: `--file PATH`, `< PATH` and curl's `@PATH` with a relative path (in the checkout; absolute
#: ones are inside the image).
NAMED = re.compile(r"(?:--file |-f |< |--data @)([\w.-][\w./-]*\.(?:json|ya?ml))")


#: Files a doc's own commands write first (`cat > rtw-values.yaml <<'EOF'`).
WRITTEN = re.compile(r"(?:>|tee) ([\w.-][\w./-]*)")


def named_files() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        written = set(WRITTEN.findall(text))
        for match in NAMED.finditer(text):
            if match.group(1) not in written:
                found.append((doc.name, match.group(1).rstrip(".")))
    return found


def test_the_readme_names_its_example_orders() -> None:
    names = {path for doc, path in named_files() if doc == "README.md"}
    assert {"deploy/examples/order.json", "deploy/examples/large-order.json"} <= names


@pytest.mark.parametrize(("doc", "path"), named_files(), ids=lambda v: str(v))
def test_every_file_a_doc_names_exists(doc: str, path: str) -> None:
    assert (ROOT / path).is_file(), f"{doc} names {path}, which does not exist"
