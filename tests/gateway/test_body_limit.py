"""Request bodies are limited while they are read: a 100 MB upload, chunked or declared,
costs the gateway almost no memory and is answered 413, on every route."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from pathlib import Path

import pytest

from tests.gateway.conftest import GatewayStack

pytestmark = pytest.mark.integration

MB = 1024 * 1024
UPLOAD = 100 * MB
CHUNK = 64 * 1024


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def reset_peak_rss(pid: int) -> None:
    """Start VmHWM (peak RSS) over from the current RSS (Linux: `5 > clear_refs`)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


async def upload(
    url: str,
    path: str,
    headers: dict[str, str],
    *,
    chunked: bool,
    size: int = UPLOAD,
    send: bool = True,
) -> tuple[int, dict[str, str], bytes, int]:
    """Send a `size`-byte body (chunked, or with a Content-Length and then the bytes; with
    `send=False` only the headers) while reading the answer; stop sending once the answer
    starts. Returns status, headers, body, and how many body bytes were sent.

    A raw socket, written and read separately: the gateway closes after its 413 with part of
    the upload unread, which resets the connection (RFC 9112 section 9.6 asks servers to
    linger only so long). A stream transport that sees that reset while writing throws away
    the answer it already received; reading the socket returns it, as curl does.
    """
    host, port = url.removeprefix("http://").split(":")
    loop = asyncio.get_running_loop()
    conn = socket.create_connection((host, int(port)))
    conn.setblocking(False)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", framing]
    head += [f"{name}: {value}" for name, value in headers.items()]
    await loop.sock_sendall(conn, ("\r\n".join(head) + "\r\n\r\n").encode())
    sent = 0
    answered = asyncio.Event()

    async def send_body() -> None:
        nonlocal sent
        block = b"x" * CHUNK
        while send and sent < size and not answered.is_set():
            frame = b"%x\r\n%s\r\n" % (len(block), block) if chunked else block
            await loop.sock_sendall(conn, frame)
            sent += len(block)
        if chunked and send and not answered.is_set():
            await loop.sock_sendall(conn, b"0\r\n\r\n")

    sender = asyncio.create_task(send_body())
    answer = b""
    try:
        async with asyncio.timeout(60):
            while b"\r\n\r\n" not in answer:
                answer += await _received(loop, conn)
                answered.set()
            head_text, _, body = answer.partition(b"\r\n\r\n")
            status_line, *lines = head_text.decode("latin-1").split("\r\n")
            answer_headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines)
            }
            while len(body) < int(answer_headers.get("content-length", "0")):
                body += await _received(loop, conn)
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sender
        conn.close()
    return int(status_line.split()[1]), answer_headers, body, sent


async def _received(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> bytes:
    """The next bytes the gateway sent; an error if it closed before saying anything more."""
    data = await loop.sock_recv(conn, 65536)
    if not data:
        raise ConnectionError("the gateway closed the connection before its answer was complete")
    return data


@pytest.mark.parametrize(
    ("path", "authorized"),
    [("/webhooks/carrier", False), ("/orders", True)],
    ids=["unauthenticated-webhook", "order-api"],
)
async def test_a_100_mb_chunked_body_is_413_and_costs_less_than_10_mb(
    stack: GatewayStack, path: str, authorized: bool
) -> None:
    assert stack.gateway.process is not None
    pid = stack.gateway.process.pid
    headers = {"Content-Type": "application/json", "Idempotency-Key": "big"}
    if authorized:
        headers["Authorization"] = f"Bearer {stack.token}"
    reset_peak_rss(pid)
    before = _status_kb(pid, "VmRSS")

    status, answer_headers, body, sent = await upload(stack.url, path, headers, chunked=True)

    growth_mb = (_status_kb(pid, "VmHWM") - before) / 1024
    print(f"{path}: {sent / MB:.1f} MB sent before the answer; peak RSS +{growth_mb:.1f} MB")
    assert status == 413
    assert json.loads(body)["type"] == "TooLarge"
    assert answer_headers["connection"] == "close", "the rest of the upload is not read"
    assert growth_mb < 10
    assert sent < UPLOAD, "the answer came before the upload finished"


@pytest.mark.parametrize("path", ["/orders", "/orders/o-1/cancel", "/inbox/login"])
async def test_a_declared_oversize_body_is_413_before_it_is_sent(
    stack: GatewayStack, path: str
) -> None:
    headers = {"Authorization": f"Bearer {stack.token}", "Expect": "100-continue"}

    status, _, body, sent = await upload(stack.url, path, headers, chunked=False, send=False)

    assert status == 413
    assert json.loads(body) == {
        "type": "TooLarge",
        "detail": "the request body is larger than 262144 bytes",
    }
    assert sent == 0


async def test_webhooks_have_a_tighter_limit_and_the_gateway_still_answers(
    stack: GatewayStack,
) -> None:
    status, _, body, _ = await upload(
        stack.url, "/webhooks/carrier", {}, chunked=True, size=65 * 1024
    )
    assert status == 413
    assert "65536 bytes" in json.loads(body)["detail"]
    async with stack.http() as http:
        assert (await http.get("/orders/none")).status_code == 404
