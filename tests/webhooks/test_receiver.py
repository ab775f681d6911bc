"""The sample receiver (`rtw webhooks receive`): signatures checked, each event id once."""

from __future__ import annotations

import json

from aiohttp.test_utils import TestClient, TestServer

from services.gateway import sign
from services.webhooks.receiver import receiver_app

SECRET = b"0123456789abcdef-receiver"


async def test_signed_events_are_applied_once_and_forgeries_refused() -> None:
    body = json.dumps({"id": "o-1:1", "type": "order.received", "data": {}}).encode()
    headers = {"Rtw-Event-Id": "o-1:1", "Content-Type": "application/json"}
    async with TestClient(TestServer(receiver_app(SECRET))) as client:
        first = await client.post(
            "/", data=body, headers={**headers, "Rtw-Signature": sign(SECRET, body)}
        )
        again = await client.post(
            "/", data=body, headers={**headers, "Rtw-Signature": sign(SECRET, body)}
        )
        forged = await client.post(
            "/", data=body, headers={**headers, "Rtw-Signature": sign(b"wrong" * 4, body)}
        )
        assert first.status == 200
        assert await first.json() == {"received": "o-1:1"}
        assert await again.json() == {"duplicate": "o-1:1"}
        assert forged.status == 401
