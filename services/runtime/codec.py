"""Payload encryption: AES-256-GCM with named keys, rotation without losing old histories.

Every encrypted payload records the id of the key that sealed it; decryption uses that key
(whichever of the known keys it is), encryption always the active one. Payloads that are not
encrypted pass through, so histories written before encryption was turned on still replay.
"""

from __future__ import annotations

import base64
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import Base64Bytes, BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import ErrorDetails
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from services.runtime.watched_file import WatchedFile

logger = logging.getLogger(__name__)

#: `encoding` metadata of an encrypted payload.
ENCODING = b"binary/encrypted"
#: Metadata naming the key a payload was sealed with.
KEY_ID_METADATA = "encryption-key-id"
#: Metadata naming the cipher (for other languages' codecs and future formats).
CIPHER_METADATA = "encryption-cipher"
CIPHER = b"AES256-GCM"
NONCE_BYTES = 12
KEY_BYTES = 32
KEYS_FILE_VARIABLE = "RTW_CODEC_KEYS_FILE"
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class CodecKeyError(RuntimeError):
    """A payload names a key that is not (or no longer) in the keys file."""

    def __init__(self, key_id: str, known: Sequence[str]) -> None:
        """Args: key_id: the key the payload names; known: the key ids on hand."""
        self.key_id = key_id
        super().__init__(
            f"payload encrypted with key {key_id!r}, which is not in {KEYS_FILE_VARIABLE} "
            f"(known: {', '.join(sorted(known)) or 'none'}); put key {key_id!r} back to read it"
        )


class CodecIntegrityError(RuntimeError):
    """An encrypted payload does not authenticate under the key it names."""


class _KeysFile(BaseModel):
    """`{"active": "<key id>", "keys": {"<key id>": "<base64 of 32 bytes>"}}`."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    active: str
    keys: dict[str, Base64Bytes]

    @model_validator(mode="after")
    def _check(self) -> _KeysFile:
        for key_id, key in self.keys.items():
            if not _KEY_ID.match(key_id):
                raise ValueError("key ids are 1-64 characters of A-Z a-z 0-9 . _ -")
            if len(key) != KEY_BYTES:
                raise ValueError(f"key {key_id!r} is not {KEY_BYTES} bytes (base64 of 32 bytes)")
        if self.active not in self.keys:
            raise ValueError(f"active key {self.active!r} is not among the keys")
        return self


@dataclass(frozen=True)
class KeyRing:
    """The active key id and every key that may still be needed to decrypt."""

    active: str
    keys: Mapping[str, bytes]

    @classmethod
    def parse(cls, raw: bytes) -> KeyRing:
        """Parse a keys file; errors name the problem, never a key."""
        try:
            data = _KeysFile.model_validate_json(raw)
        except ValidationError as exc:
            problems = "; ".join(
                _describe(e) for e in exc.errors(include_input=False, include_url=False)
            )
            raise ValueError(f"invalid keys file: {problems}") from None
        return cls(active=data.active, keys=dict(data.keys))


def new_key() -> str:
    """A fresh random key, base64, for a keys file."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def _describe(error: ErrorDetails) -> str:
    where = ".".join(map(str, error["loc"])) or "file"
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM payload codec over a `KeyRing` (fixed, or a watched keys file)."""

    def __init__(self, keys: KeyRing | WatchedFile[KeyRing]) -> None:
        """Args: keys: a key ring, or a keys file re-read when it changes (rotation)."""
        self._keys = keys
        self._ciphers: dict[tuple[str, bytes], AESGCM] = {}

    @classmethod
    def from_file(cls, path: Path) -> EncryptionCodec:
        """A codec reading `path` now and again whenever it changes."""
        return cls(WatchedFile(path, KeyRing.parse))

    def key_ring(self) -> KeyRing:
        """The keys in use now."""
        return self._keys.current() if isinstance(self._keys, WatchedFile) else self._keys

    def _cipher(self, ring: KeyRing, key_id: str) -> AESGCM:
        key = ring.keys.get(key_id)
        if key is None:
            raise CodecKeyError(key_id, list(ring.keys))
        cipher = self._ciphers.get((key_id, key))
        if cipher is None:
            cipher = self._ciphers[(key_id, key)] = AESGCM(key)
        return cipher

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each payload with the active key."""
        ring = self.key_ring()
        cipher = self._cipher(ring, ring.active)
        key_id = ring.active.encode()
        sealed = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            data = nonce + cipher.encrypt(nonce, payload.SerializeToString(), key_id)
            sealed.append(
                Payload(
                    metadata={
                        "encoding": ENCODING,
                        KEY_ID_METADATA: key_id,
                        CIPHER_METADATA: CIPHER,
                    },
                    data=data,
                )
            )
        return sealed

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt encrypted payloads with the key each names; pass the others through."""
        ring = self.key_ring()
        opened = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                opened.append(payload)
                continue
            key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
            cipher = self._cipher(ring, key_id)
            nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
            try:
                clear = cipher.decrypt(nonce, sealed, key_id.encode())
            except InvalidTag:
                raise CodecIntegrityError(
                    f"payload sealed with key {key_id!r} fails authentication (altered, or a "
                    "different key under the same id)"
                ) from None
            plain = Payload()
            plain.ParseFromString(clear)
            opened.append(plain)
        return opened
