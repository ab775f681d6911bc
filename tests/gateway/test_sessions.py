"""Inbox sessions: a signed cookie bound to the principal (never the bearer token), ended by
expiry, by removing the token, or by a new session key; `Secure` outside local development,
behind a proxy only when that proxy is trusted."""

from __future__ import annotations

import functools
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.auth import Principal, Role, TokenStore
from services.gateway.process import GatewayProcess
from services.gateway.sessions import SESSION_COOKIE, SessionKeyError, Sessions
from services.runtime.devserver import DevServer, free_port
from tests.gateway.conftest import SERVICE_TOKEN, TOKEN, write_secrets
from tests.integration.helpers import rtw

HOUR = 3600.0
NOW = 1_800_000_000.0


def _touch(path: Path) -> None:
    """A new mtime, as a Secret update gives (the store notices the change at once)."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def revoke(tokens: Path, token: str) -> None:
    """Remove `token`'s line from a tokens file."""
    tokens.write_text(
        "\n".join(line for line in tokens.read_text().splitlines() if token not in line)
    )
    _touch(tokens)


@pytest.fixture
def tokens(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    path.write_text("alice-token alice reviewer\nbob-token bob reviewer\nshop-token shop service\n")
    return path


def test_the_cookie_names_the_principal_and_never_holds_the_token(tokens: Path) -> None:
    sessions = Sessions(TokenStore(tokens), lifetime_seconds=HOUR)
    issued = sessions.issue("alice-token", now=NOW)
    assert issued is not None
    cookie, principal = issued
    assert principal == Principal("alice", Role.REVIEWER)
    assert "alice-token" not in cookie
    assert sessions.principal(cookie, now=NOW + 10) == principal
    assert sessions.issue("nobody", now=NOW) is None


def test_a_session_ends_when_it_expires(tokens: Path) -> None:
    sessions = Sessions(TokenStore(tokens), lifetime_seconds=HOUR)
    cookie, _ = sessions.issue("alice-token", now=NOW) or ("", None)
    assert sessions.principal(cookie, now=NOW + HOUR - 1) is not None
    assert sessions.principal(cookie, now=NOW + HOUR) is None


def test_removing_the_token_ends_its_sessions_and_only_those(tmp_path: Path, tokens: Path) -> None:
    key = tmp_path / "session-key"
    key.write_bytes(os.urandom(32).hex().encode())
    sessions = Sessions(TokenStore(tokens), key_file=key, lifetime_seconds=HOUR)
    alice, _ = sessions.issue("alice-token", now=NOW) or ("", None)
    bob, _ = sessions.issue("bob-token", now=NOW) or ("", None)

    tokens.write_text("bob-token bob reviewer\n")
    _touch(tokens)

    assert sessions.principal(alice, now=NOW) is None, "alice's token was revoked"
    assert sessions.principal(bob, now=NOW) == Principal("bob", Role.REVIEWER)


def test_a_token_given_to_another_name_does_not_keep_the_session(
    tmp_path: Path, tokens: Path
) -> None:
    key = tmp_path / "session-key"
    key.write_bytes(b"k" * 32)
    sessions = Sessions(TokenStore(tokens), key_file=key, lifetime_seconds=HOUR)
    cookie, _ = sessions.issue("alice-token", now=NOW) or ("", None)
    tokens.write_text("alice-token mallory reviewer\n")
    _touch(tokens)
    assert sessions.principal(cookie, now=NOW) is None


def test_a_new_session_key_ends_every_session(tmp_path: Path, tokens: Path) -> None:
    key = tmp_path / "session-key"
    key.write_bytes(b"a" * 32)
    sessions = Sessions(TokenStore(tokens), key_file=key, lifetime_seconds=HOUR)
    cookie, _ = sessions.issue("alice-token") or ("", None)
    assert sessions.principal(cookie) is not None
    key.write_bytes(b"b" * 40)
    _touch(key)
    sessions._key_file.refresh()  # type: ignore[union-attr]  # what the next second's check does
    assert sessions.principal(cookie) is None
    renewed, _ = sessions.issue("alice-token") or ("", None)
    assert sessions.principal(renewed) is not None


def test_without_a_key_file_the_key_follows_the_tokens_file(tokens: Path) -> None:
    sessions = Sessions(TokenStore(tokens), lifetime_seconds=HOUR)
    cookie, _ = sessions.issue("alice-token", now=NOW) or ("", None)
    assert sessions.principal(cookie, now=NOW) is not None
    tokens.write_text(tokens.read_text() + "carol-token carol reviewer\n")
    _touch(tokens)
    assert sessions.principal(cookie, now=NOW) is None, "any change to the file signs out"


def test_a_short_session_key_is_refused(tmp_path: Path, tokens: Path) -> None:
    key = tmp_path / "session-key"
    key.write_bytes(b"short")
    with pytest.raises(SessionKeyError, match="at least 32 bytes"):
        Sessions(TokenStore(tokens), key_file=key, lifetime_seconds=HOUR)
    with pytest.raises(SessionKeyError, match="cannot read"):
        Sessions(TokenStore(tokens), key_file=key.with_name("missing"), lifetime_seconds=HOUR)


def test_a_forged_or_altered_cookie_is_no_session(tokens: Path) -> None:
    sessions = Sessions(TokenStore(tokens), lifetime_seconds=HOUR)
    cookie, _ = sessions.issue("bob-token", now=NOW) or ("", None)
    version, payload, signature = cookie.split(".")
    alice, _ = sessions.issue("alice-token", now=NOW) or ("", None)
    for forged in (
        f"{version}.{alice.split('.')[1]}.{signature}",  # alice's claims, bob's signature
        f"{version}.{payload}.{signature[:-2]}AA",
        f"v2.{payload}.{signature}",
        "alice-token",
        "",
    ):
        assert sessions.principal(forged, now=NOW) is None


@functools.cache
def fuzz_sessions() -> Sessions:
    path = Path(tempfile.mkdtemp(prefix="rtw-sessions-")) / "tokens"
    path.write_text("alice-token alice reviewer\n")
    return Sessions(TokenStore(path), lifetime_seconds=HOUR)


@settings(max_examples=500, deadline=None)
@given(cookie=st.text(max_size=400) | st.from_regex(r"v1\.[A-Za-z0-9_=-]{0,80}\.[A-Za-z0-9_=-]*"))
def test_any_other_cookie_value_is_no_session_and_no_error(cookie: str) -> None:
    assert fuzz_sessions().principal(cookie) is None


# --- through a real gateway process -------------------------------------------------------


async def start(dev_server: DevServer, data: Path, **env: str) -> GatewayProcess:
    gateway = GatewayProcess(
        port=free_port(),
        health_port=free_port(),
        env={
            "TEMPORAL_ADDRESS": dev_server.address,
            "RTW_QUEUE_PREFIX": f"sessions-{uuid.uuid4().hex[:8]}-",
            **write_secrets(data),
            **env,
        },
        log_file=data / "gateway.log",
    )
    await gateway.start()
    return gateway


@pytest.fixture
async def gateway(dev_server: DevServer, tmp_path: Path) -> AsyncIterator[GatewayProcess]:
    running = await start(dev_server, tmp_path)
    yield running
    assert await running.stop() == 0


async def sign_in(
    gateway: GatewayProcess, token: str = TOKEN, headers: dict[str, str] | None = None
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        return await http.post("/inbox/login", data={"token": token}, headers=headers or {})


def cookie_flags(response: httpx.Response) -> tuple[str, set[str]]:
    """The session cookie's value and its attributes (lower case, without values)."""
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith("rtw_"))
    value, *attributes = (part.strip() for part in header.split(";"))
    return value.split("=", 1)[1], {a.split("=")[0].lower() for a in attributes}


@pytest.mark.integration
async def test_sign_in_sets_a_signed_http_only_cookie_not_secure_on_loopback(
    gateway: GatewayProcess,
) -> None:
    response = await sign_in(gateway)
    assert response.status_code == 303
    value, flags = cookie_flags(response)
    assert TOKEN not in value
    assert value.startswith("v1.")
    assert {"httponly", "samesite", "path", "max-age"} <= flags
    assert "secure" not in flags, "plain HTTP on loopback: local development"

    async with httpx.AsyncClient(base_url=gateway.url, cookies={SESSION_COOKIE: value}) as http:
        page = await http.get("/inbox")
        assert "Signed in as <strong>alice</strong>" in page.text
        assert (await http.get("/orders/none")).status_code == 404, "the API takes it too"
        out = await http.post("/inbox/logout")
        assert out.status_code == 303
        assert (
            'rtw_session=""' in out.headers["set-cookie"]
            or "Max-Age=0" in (out.headers["set-cookie"])
        )
    async with httpx.AsyncClient(base_url=gateway.url, cookies={SESSION_COOKIE: TOKEN}) as http:
        assert (await http.get("/orders/none")).status_code == 401, "a raw token is no session"
        assert "Access token" in (await http.get("/inbox")).text


@pytest.mark.integration
async def test_the_cookie_is_secure_for_any_other_host_and_behind_a_trusted_tls_proxy(
    gateway: GatewayProcess,
) -> None:
    public = await sign_in(gateway, headers={"Host": "shop.example.com"})
    assert "secure" in cookie_flags(public)[1]
    # the test client connects from 127.0.0.1, the default trusted proxy
    behind_tls = await sign_in(gateway, headers={"X-Forwarded-Proto": "https"})
    assert "secure" in cookie_flags(behind_tls)[1]


@pytest.mark.integration
async def test_forwarded_headers_count_only_from_trusted_proxies(
    dev_server: DevServer, tmp_path: Path
) -> None:
    gateway = await start(dev_server, tmp_path, RTW_GATEWAY_TRUSTED_PROXIES="10.9.8.7,10.0.0.0/8")
    try:
        spoofed = await sign_in(gateway, headers={"X-Forwarded-Proto": "https"})
        assert "secure" not in cookie_flags(spoofed)[1], "127.0.0.1 is not a trusted proxy here"
    finally:
        assert await gateway.stop() == 0
    typo = await rtw(
        "gateway",
        "--port",
        "0",
        env={**write_secrets(tmp_path), "RTW_GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8,ingress"},
    )
    assert typo.code == 2
    assert "RTW_GATEWAY_TRUSTED_PROXIES" in typo.stderr


@pytest.mark.integration
async def test_a_service_token_cannot_sign_in_and_a_revoked_token_ends_the_session(
    gateway: GatewayProcess,
) -> None:
    refused = await sign_in(gateway, SERVICE_TOKEN)
    assert refused.status_code == 401
    assert "shop has role service" in refused.text
    assert "set-cookie" not in refused.headers

    value, _ = cookie_flags(await sign_in(gateway))
    revoke(Path(gateway.env["RTW_GATEWAY_TOKENS_FILE"]), TOKEN)
    async with httpx.AsyncClient(base_url=gateway.url, cookies={SESSION_COOKIE: value}) as http:
        assert "Access token" in (await http.get("/inbox")).text
        assert (await http.get("/orders/none")).status_code == 401
