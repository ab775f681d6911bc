"""Codec key files for the security tests."""

from __future__ import annotations

import json
from pathlib import Path

from services.runtime.codec import new_key


def write_keys(path: Path, active: str, keys: dict[str, str]) -> Path:
    """Write a keys file atomically (as a Secret update would appear)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"active": active, "keys": keys}), encoding="utf-8")
    tmp.replace(path)
    return path


def fresh_keys(*ids: str) -> dict[str, str]:
    """New random keys under the given ids."""
    return {key_id: new_key() for key_id in ids}
