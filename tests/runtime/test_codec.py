"""The payload encryption codec: sealing, key ids, rotation, removed keys, bad key files."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload

from services.runtime.codec import (
    ENCODING,
    KEY_ID_METADATA,
    CodecIntegrityError,
    CodecKeyError,
    EncryptionCodec,
    KeyRing,
)
from services.runtime.config import CodecSettings
from services.runtime.connection import ConfigurationError, payload_codec
from services.runtime.watched_file import WatchedFile

SECRET_FIELD = b'{"customer_id":"c-secret-42","payment_method":"pm_card_visa"}'


def plain(data: bytes = SECRET_FIELD) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


def key_b64() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def write_keys(path: Path, active: str, keys: dict[str, str]) -> None:
    path.write_text(json.dumps({"active": active, "keys": keys}), encoding="utf-8")


def ring(active: str, **keys: bytes) -> KeyRing:
    return KeyRing(active=active, keys=keys)


async def test_payloads_are_sealed_with_the_active_key_and_open_again() -> None:
    codec = EncryptionCodec(ring("k1", k1=os.urandom(32)))
    [sealed] = await codec.encode([plain()])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID_METADATA] == b"k1"
    assert b"c-secret-42" not in sealed.SerializeToString()
    [opened] = await codec.decode([sealed])
    assert opened == plain()


async def test_the_same_value_seals_differently_each_time() -> None:
    codec = EncryptionCodec(ring("k1", k1=os.urandom(32)))
    first, second = await codec.encode([plain(), plain()])
    assert first.data != second.data


async def test_plain_payloads_pass_through_decode() -> None:
    """Histories written before encryption was turned on still decode."""
    codec = EncryptionCodec(ring("k1", k1=os.urandom(32)))
    assert await codec.decode([plain()]) == [plain()]


async def test_after_rotation_old_payloads_open_and_new_ones_use_the_new_key() -> None:
    k1, k2 = os.urandom(32), os.urandom(32)
    [old] = await EncryptionCodec(ring("k1", k1=k1)).encode([plain()])
    rotated = EncryptionCodec(ring("k2", k1=k1, k2=k2))
    assert await rotated.decode([old]) == [plain()]
    [new] = await rotated.encode([plain()])
    assert new.metadata[KEY_ID_METADATA] == b"k2"


async def test_a_removed_key_still_referenced_fails_naming_it() -> None:
    k1, k2 = os.urandom(32), os.urandom(32)
    [old] = await EncryptionCodec(ring("k1", k1=k1)).encode([plain()])
    with pytest.raises(CodecKeyError, match="'k1'") as caught:
        await EncryptionCodec(ring("k2", k2=k2)).decode([old])
    assert caught.value.key_id == "k1"
    assert "RTW_CODEC_KEYS_FILE" in str(caught.value)


async def test_an_altered_payload_or_a_different_key_under_the_same_id_is_refused() -> None:
    [sealed] = await EncryptionCodec(ring("k1", k1=os.urandom(32))).encode([plain()])
    with pytest.raises(CodecIntegrityError, match="'k1'"):
        await EncryptionCodec(ring("k1", k1=os.urandom(32))).decode([sealed])
    tampered = Payload()
    tampered.CopyFrom(sealed)
    tampered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(CodecIntegrityError):
        await EncryptionCodec(ring("k1", k1=os.urandom(32))).decode([tampered])


@pytest.mark.parametrize(
    ("contents", "problem"),
    [
        ({"active": "k9", "keys": {"k1": "KEY"}}, "active key 'k9' is not among the keys"),
        ({"active": "k1", "keys": {"k1": base64.b64encode(b"short").decode()}}, "32 bytes"),
        ({"active": "k1", "keys": {"k 1": "KEY"}}, "key ids are"),
        ({"keys": {"k1": "KEY"}}, "active: Field required"),
        ({"active": "k1", "keys": {"k1": "not base64!"}}, "keys.k1"),
    ],
)
def test_a_bad_keys_file_names_the_problem_and_never_a_key(
    tmp_path: Path, contents: dict[str, object], problem: str
) -> None:
    key = key_b64()
    text = json.dumps(contents).replace('"KEY"', json.dumps(key))
    path = tmp_path / "keys.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        payload_codec(CodecSettings(keys_file=path))
    message = str(caught.value)
    assert problem in message
    assert "RTW_CODEC_KEYS_FILE" in message
    assert key not in message
    assert "not base64!" not in message


def test_a_missing_keys_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read RTW_CODEC_KEYS_FILE"):
        payload_codec(CodecSettings(keys_file=tmp_path / "absent.json"))


def test_no_keys_file_means_no_encryption() -> None:
    assert payload_codec(CodecSettings()) is None


async def test_a_changed_keys_file_is_picked_up_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    k1, k2 = key_b64(), key_b64()
    write_keys(path, "k1", {"k1": k1})
    codec = EncryptionCodec(WatchedFile(path, KeyRing.parse, check_seconds=0))
    [old] = await codec.encode([plain()])
    write_keys(path, "k2", {"k1": k1, "k2": k2})
    [new] = await codec.encode([plain()])
    assert new.metadata[KEY_ID_METADATA] == b"k2"
    assert await codec.decode([old, new]) == [plain(), plain()]


async def test_a_broken_rewrite_keeps_the_last_good_keys(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "keys.json"
    write_keys(path, "k1", {"k1": key_b64()})
    codec = EncryptionCodec(WatchedFile(path, KeyRing.parse, check_seconds=0))
    path.write_text('{"active": "k1", "keys": {"k1": "half-writ', encoding="utf-8")
    [sealed] = await codec.encode([plain()])
    assert sealed.metadata[KEY_ID_METADATA] == b"k1"
    assert "keeping the previous contents" in caplog.text
    assert "half-writ" not in caplog.text
