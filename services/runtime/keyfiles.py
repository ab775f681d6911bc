"""Create and extend the codec's keys file and the codec server's token file (operators' tools)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from services.runtime.codec import KeyRing, new_key


class KeyFileError(ValueError):
    """The requested change to a keys file cannot be made."""


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by its owner only."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    tmp.replace(path)


def add_key(path: Path, key_id: str, *, activate: bool) -> bool:
    """Add a fresh key `key_id` to the keys file at `path`; True when the file was created.

    A new file gets the key as its active key. An existing file keeps every key it has (old
    histories still need them) and, with `activate`, makes the new key the active one.
    """
    if path.exists():
        ring = KeyRing.parse(path.read_bytes())
        if key_id in ring.keys:
            raise KeyFileError(f"key {key_id!r} is already in {path}; choose a new key id")
        data = json.loads(path.read_bytes())
        data["keys"][key_id] = new_key()
        if activate:
            data["active"] = key_id
        created = False
    else:
        data = {"active": key_id, "keys": {key_id: new_key()}}
        created = True
    text = json.dumps(data, indent=2) + "\n"
    KeyRing.parse(text.encode())  # never write a file the workers would refuse
    _write_private(path, text)
    return created


def write_token(path: Path) -> None:
    """Write a fresh random bearer token to `path` (one line)."""
    _write_private(path, secrets.token_urlsafe(32) + "\n")
