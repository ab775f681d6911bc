"""`rtw codec-server` as a real process: auth, CORS, bad bodies, nothing logged of payloads."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web

from services.runtime.devserver import free_port
from tests.security.codec_server import codec_server_process, wait_healthy
from tests.security.keys import fresh_keys, write_keys

TOKEN = "tok-codec-7Yq2"
PRIVATE = "c-private-5150"
UI = "http://ui.test"


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp("codec-server")
    keys = write_keys(directory / "keys.json", "k1", fresh_keys("k1"))
    tokens = directory / "tokens"
    tokens.write_text(f"{TOKEN}\n", encoding="utf-8")
    log = directory / "server.log"
    with codec_server_process(keys, tokens, log, origins=UI) as url:
        await wait_healthy(url)
        yield url, log


def body(*values: bytes) -> dict[str, Any]:
    return {
        "payloads": [
            {
                "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                "data": base64.b64encode(value).decode(),
            }
            for value in values
        ]
    }


async def post(
    url: str, path: str, data: Any, *, token: str | None = TOKEN, raw: bytes | None = None
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", "X-Namespace": "default"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    payload = raw if raw is not None else json.dumps(data).encode()
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}{path}", data=payload, headers=headers) as resp,
    ):
        text = await resp.text()
        return resp.status, json.loads(text) if text else None


async def test_encode_then_decode_gives_back_the_payloads(server: tuple[str, Path]) -> None:
    url, _ = server
    value = json.dumps({"customer_id": PRIVATE}).encode()
    status, encoded = await post(url, "/encode", body(value))
    assert status == 200
    [sealed] = encoded["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
    assert PRIVATE.encode() not in base64.b64decode(sealed["data"])
    status, decoded = await post(url, "/decode", encoded)
    assert status == 200
    assert decoded == body(value)


async def test_plain_payloads_come_back_unchanged(server: tuple[str, Path]) -> None:
    url, _ = server
    status, decoded = await post(url, "/decode", body(b'"hi"'))
    assert (status, decoded) == (200, body(b'"hi"'))


@pytest.mark.parametrize("token", [None, "wrong", ""])
async def test_missing_or_wrong_token_is_401(server: tuple[str, Path], token: str | None) -> None:
    url, _ = server
    for path in ("/encode", "/decode"):
        status, answer = await post(url, path, body(b"1"), token=token)
        assert status == 401
        assert "payloads" not in answer


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"payloads": "nope"}',
        b'{"payloads": [{"data": 5}]}',
        b'{"items": []}',
        b"\xff\xfe",
    ],
)
async def test_malformed_bodies_are_400(server: tuple[str, Path], raw: bytes) -> None:
    url, _ = server
    status, answer = await post(url, "/decode", None, raw=raw)
    assert status == 400
    assert "payloads" in answer["error"]


async def test_a_payload_under_an_unknown_key_is_400_naming_it(server: tuple[str, Path]) -> None:
    url, _ = server
    foreign = {
        "payloads": [
            {
                "metadata": {
                    "encoding": base64.b64encode(b"binary/encrypted").decode(),
                    "encryption-key-id": base64.b64encode(b"k-gone").decode(),
                },
                "data": base64.b64encode(b"\0" * 40).decode(),
            }
        ]
    }
    status, answer = await post(url, "/decode", foreign)
    assert status == 400
    assert "'k-gone'" in answer["error"]


async def test_cors_lets_the_web_ui_origin_in_and_no_other(server: tuple[str, Path]) -> None:
    url, _ = server
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    async with aiohttp.ClientSession() as http:
        async with http.options(f"{url}/decode", headers={"Origin": UI, **preflight}) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == UI
            assert "authorization" in resp.headers["Access-Control-Allow-Headers"].lower()
        other = {"Origin": "http://evil.test", **preflight}
        async with http.options(f"{url}/decode", headers=other) as resp:
            assert resp.status == 400
            assert "Access-Control-Allow-Origin" not in resp.headers


async def test_nothing_of_payloads_or_tokens_reaches_the_log(server: tuple[str, Path]) -> None:
    url, log = server
    value = json.dumps({"customer_id": PRIVATE}).encode()
    _, encoded = await post(url, "/encode", body(value))
    await post(url, "/decode", encoded)
    await post(url, "/decode", body(value), token="tok-wrong-9")
    await post(url, "/decode", None, raw=b'{"payloads": "' + PRIVATE.encode() + b'"}')
    text = log.read_text(encoding="utf-8")
    assert "refused a /decode request" in text  # the log is written, and read here
    for secret in (PRIVATE, TOKEN, "tok-wrong-9", encoded["payloads"][0]["data"]):
        assert secret not in text


class IdentityProvider:
    """A stand-in OIDC provider: its JWKS served over real HTTP, tokens it signs."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "idp-1"
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> IdentityProvider:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        jwks = {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

        async def serve(_: web.Request) -> web.Response:
            return web.json_response(jwks)

        app = web.Application()
        app.router.add_get("/jwks.json", serve)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/jwks.json"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def token(self, *, key: Any = None, **claims: Any) -> str:
        body = {"aud": "temporal-ui", "iss": "https://idp.test", "sub": "alice", **claims}
        body.setdefault("exp", int(time.time()) + 300)
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture(scope="module")
async def idp_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[str, IdentityProvider]]:
    directory = tmp_path_factory.mktemp("codec-oidc")
    keys = write_keys(directory / "keys.json", "k1", fresh_keys("k1"))
    async with IdentityProvider() as idp:
        env = {
            "RTW_CODEC_SERVER_JWKS_URL": idp.url,
            "RTW_CODEC_SERVER_JWT_AUDIENCE": "temporal-ui",
            "RTW_CODEC_SERVER_JWT_ISSUER": "https://idp.test",
        }
        with codec_server_process(keys, None, directory / "log", extra_env=env) as url:
            await wait_healthy(url)
            yield url, idp


async def test_the_web_uis_forwarded_access_token_is_verified(
    idp_server: tuple[str, IdentityProvider],
) -> None:
    """With the UI's "pass access token", the signed-in person's OIDC token is the bearer."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    url, idp = idp_server
    status, _ = await post(url, "/encode", body(b"1"), token=idp.token())
    assert status == 200
    refused = {
        "expired": idp.token(exp=int(time.time()) - 60),
        "other audience": idp.token(aud="another-app"),
        "other issuer": idp.token(iss="https://evil.test"),
        "foreign signer": idp.token(
            key=rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ),
        "unsigned": jwt.encode(
            {"aud": "temporal-ui", "exp": int(time.time()) + 60}, "", algorithm="none"
        ),
        "not a token": "opaque-string",
    }
    for case, token in refused.items():
        status, _ = await post(url, "/decode", body(b"1"), token=token)
        assert status == 401, case


def test_a_jwks_without_an_audience_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from services.codec_server import CodecServerSettings

    monkeypatch.setenv("RTW_CODEC_SERVER_JWKS_URL", "https://idp.test/jwks.json")
    with pytest.raises(ValidationError, match="RTW_CODEC_SERVER_JWT_AUDIENCE is required"):
        CodecServerSettings()
