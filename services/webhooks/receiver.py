"""A sample webhook receiver (`rtw webhooks receive`): checks each delivery's signature,
applies each `Rtw-Event-Id` once, and prints the event. What a shop's endpoint does, in a
few lines; Compose runs it as `webhook-receiver`."""

from __future__ import annotations

import json
import logging
from collections import OrderedDict

from aiohttp import web

from services.gateway.signing import SIGNATURE_HEADER, SignatureError, verify
from services.webhooks.dispatcher import EVENT_ID_HEADER

logger = logging.getLogger(__name__)

#: Event ids remembered for de-duplication.
REMEMBERED = 10_000


def receiver_app(secret: bytes, *, tolerance: int = 300) -> web.Application:
    """The receiving app: 401 for a bad signature, 200 for an event (new or repeated)."""
    seen: OrderedDict[str, None] = OrderedDict()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify(secret, body, request.headers.get(SIGNATURE_HEADER), tolerance=tolerance)
        except SignatureError as exc:
            logger.warning("refused a delivery: %s", exc)
            return web.json_response({"error": str(exc)}, status=401)
        event_id = request.headers.get(EVENT_ID_HEADER, "")
        if event_id in seen:
            return web.json_response({"duplicate": event_id})
        seen[event_id] = None
        while len(seen) > REMEMBERED:
            seen.popitem(last=False)
        event = json.loads(body)
        print(f"{event_id} {event['type']} {json.dumps(event['data'])}", flush=True)
        return web.json_response({"received": event_id})

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=256 * 1024)
    app.router.add_post("/", receive)
    app.router.add_get("/healthz", health)
    return app
