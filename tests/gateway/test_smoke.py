"""The chart's `helm test` client follows the API's rule: a 503 on POST /orders means the
order may exist, so it retries with the same Idempotency-Key and body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from services.gateway.smoke import drive


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """`app` on a free loopback port; its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_503_is_retried_with_the_same_key_and_body_then_followed_to_its_end() -> None:
    posts: list[tuple[str, dict[str, object]]] = []

    async def submit(request: web.Request) -> web.Response:
        posts.append((request.headers["Idempotency-Key"], await request.json()))
        if len(posts) < 3:
            return web.json_response({"type": "Unavailable", "detail": "retry"}, status=503)
        return web.json_response({"state": "authorizing"}, status=201)

    async def status(request: web.Request) -> web.Response:
        return web.json_response({"state": "completed"})

    app = web.Application()
    app.router.add_post("/orders", submit)
    app.router.add_get("/orders/{order_id}", status)
    async with serving(app) as url:
        assert await drive(url, "token", timeout=30) == 0
    assert len(posts) == 3
    assert len({key for key, _ in posts}) == 1, "one Idempotency-Key for every attempt"
    assert all(body == posts[0][1] for _, body in posts), "the same body every time"


async def test_a_refusal_other_than_503_ends_the_check_at_once() -> None:
    async def submit(request: web.Request) -> web.Response:
        return web.json_response({"type": "Unauthorized", "detail": "no"}, status=401)

    app = web.Application()
    app.router.add_post("/orders", submit)
    async with serving(app) as url:
        assert await drive(url, "token", timeout=30) == 1
