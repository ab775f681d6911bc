"""Outbound webhooks: order events POSTed, signed, to the endpoints a shop registers.

The dispatcher (`services.webhooks.dispatcher`) runs in the gateway process and is imported
from there, not here (it uses the gateway's event hub and signing)."""

from services.webhooks.deliveries import Delivery, DeliveryStore, deliveries_for
from services.webhooks.endpoints import Endpoint, Endpoints, EndpointsFileError

__all__ = [
    "Delivery",
    "DeliveryStore",
    "Endpoint",
    "Endpoints",
    "EndpointsFileError",
    "deliveries_for",
]
