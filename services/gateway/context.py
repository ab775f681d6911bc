"""What every route needs: the Temporal client and the gateway's settings."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from temporalio.client import Client

from services.gateway.auth import TokenStore
from services.gateway.settings import GatewaySettings


@dataclass(frozen=True)
class Gateway:
    """The stateless gateway's collaborators, built once per process."""

    client: Client
    settings: GatewaySettings
    tokens: TokenStore
    orchestration_queue: str
    webhook_secret: bytes | None = None
    #: Orders carry RtwCustomerId (off while payloads are encrypted: it would be in the clear).
    customer_filter: bool = True
    #: The namespace has RtwIdempotencyKey: a key reused for another order id is refused.
    key_attribute: bool = False


def gateway_of(request: Request) -> Gateway:
    """FastAPI dependency: the process's `Gateway`."""
    gateway: Gateway = request.app.state.gateway
    return gateway
