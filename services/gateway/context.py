"""What every route needs: the Temporal client and the gateway's settings."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from temporalio.client import Client

from services.events.store import EventStore
from services.gateway.auth import TokenStore
from services.gateway.events_hub import EventHub
from services.gateway.sessions import Sessions
from services.gateway.settings import GatewaySettings
from services.runtime.database import Database
from services.webhooks.deliveries import DeliveryStore


@dataclass(frozen=True)
class Gateway:
    """The stateless gateway's collaborators, built once per process."""

    client: Client
    settings: GatewaySettings
    tokens: TokenStore
    sessions: Sessions
    orchestration_queue: str
    webhook_secret: bytes | None = None
    #: Orders carry RtwCustomerId (off while payloads are encrypted: it would be in the clear).
    customer_filter: bool = True
    #: The namespace has RtwIdempotencyKey: sagas carry their key as a search attribute.
    key_attribute: bool = False
    #: Order events (None: RTW_GATEWAY_EVENTS=false): the workers' database, its event
    #: store and the process's one reader of new events.
    db: Database | None = None
    events: EventStore | None = None
    hub: EventHub | None = None
    #: Outbound webhook deliveries (None: no RTW_WEBHOOK_ENDPOINTS_FILE, or events off).
    deliveries: DeliveryStore | None = None


def gateway_of(request: Request) -> Gateway:
    """FastAPI dependency: the process's `Gateway`."""
    gateway: Gateway = request.app.state.gateway
    return gateway
