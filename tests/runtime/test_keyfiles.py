"""`rtw codec-key` / `rtw codec-token`: keys files grow, never lose keys, stay private."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from services.runtime.codec import KeyRing
from services.runtime.keyfiles import KeyFileError, add_key, write_token


def test_a_new_file_gets_the_key_as_active_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    assert add_key(path, "k1", activate=False) is True
    ring = KeyRing.parse(path.read_bytes())
    assert ring.active == "k1"
    assert list(ring.keys) == ["k1"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_rotation_adds_and_activates_without_dropping_old_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    add_key(path, "k1", activate=False)
    old = KeyRing.parse(path.read_bytes()).keys["k1"]
    add_key(path, "k2", activate=False)
    assert KeyRing.parse(path.read_bytes()).active == "k1"
    add_key(path, "k3", activate=True)
    ring = KeyRing.parse(path.read_bytes())
    assert ring.active == "k3"
    assert set(ring.keys) == {"k1", "k2", "k3"}
    assert ring.keys["k1"] == old


def test_an_existing_key_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    add_key(path, "k1", activate=False)
    before = path.read_text()
    with pytest.raises(KeyFileError, match="'k1' is already"):
        add_key(path, "k1", activate=True)
    assert path.read_text() == before
    assert json.loads(before)["active"] == "k1"


def test_tokens_are_random_and_private(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write_token(first)
    write_token(second)
    assert first.read_text() != second.read_text()
    assert len(first.read_text().strip()) >= 40
    assert stat.S_IMODE(first.stat().st_mode) == 0o600


def test_codec_init_makes_keys_and_token_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    directory = tmp_path / "new" / "codec"  # made if missing

    def init() -> str:
        return subprocess.run(
            [sys.executable, "-m", "services", "codec-init", str(directory), "--key-id", "c-1"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    assert "created" in init()
    keys, token = (directory / "keys.json").read_text(), (directory / "tokens").read_text()
    assert KeyRing.parse(keys.encode()).active == "c-1"
    assert "created" not in init()  # a second start keeps both
    assert (directory / "keys.json").read_text() == keys
    assert (directory / "tokens").read_text() == token
    assert token.strip() not in init()
