"""One order through a running gateway, start to finish (the chart's `helm test`).

`python -m services.gateway.smoke --url http://rtw-gateway --token-file /etc/…/tokens`
submits an order under a fresh id (again, with the same key and body, after a 503, as the API
asks), follows it with `GET /orders/{id}` and exits 0 only when it completed; every step is
printed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

import aiohttp

TERMINAL = {"completed", "compensated", "rejected", "cancelled", "failed"}


def smoke_order(order_id: str) -> dict[str, object]:
    """A small order on the test card (below the approval threshold)."""
    return {
        "order_id": order_id,
        "customer_id": "c-smoke",
        "currency": "USD",
        "payment_method": "pm_card_visa",
        "items": [{"sku": "sku-1", "quantity": 1, "unit_price_cents": 1500}],
    }


async def drive(url: str, token: str, *, timeout: float) -> int:
    """Submit one order and wait for it to end; 0 when it completed."""
    order_id = f"smoke-{int(time.time())}-{uuid.uuid4().hex[:6]}"
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(
        base_url=url, headers=headers, timeout=aiohttp.ClientTimeout(total=30)
    ) as http:
        deadline = time.monotonic() + timeout
        # A 503 means the order may exist: the API's rule is to retry with the same
        # Idempotency-Key and body (201 or 200 once the workers answer).
        while True:
            async with http.post(
                "/orders", json=smoke_order(order_id), headers={"Idempotency-Key": order_id}
            ) as response:
                body = await response.json()
                print(f"POST /orders -> {response.status} {body.get('state', body)}", flush=True)
                if response.status in (200, 201):
                    break
                if response.status != 503 or time.monotonic() > deadline:
                    return 1
            await asyncio.sleep(1.0)
        state = ""
        while time.monotonic() < deadline:
            async with http.get(f"/orders/{order_id}") as response:
                body = await response.json()
                if response.status == 200 and body["state"] != state:
                    state = body["state"]
                    print(f"GET /orders/{order_id} -> {state}", flush=True)
                if state in TERMINAL:
                    return 0 if state == "completed" else 1
            await asyncio.sleep(0.5)
    print(f"order {order_id} did not end within {timeout:g}s (last state {state!r})", flush=True)
    return 1


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="gateway base URL")
    parser.add_argument("--token-file", required=True, type=Path, help="bearer token file")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait")
    args = parser.parse_args(argv)
    lines = args.token_file.read_text(encoding="utf-8").splitlines()
    # the first entry's token: a line is `<token> <name> <role>`, or a token alone
    token = next(line.split()[0] for line in lines if line.strip() and not line.startswith("#"))
    return asyncio.run(drive(args.url, token, timeout=args.timeout))


if __name__ == "__main__":
    sys.exit(main())
