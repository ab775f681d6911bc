"""Outbound webhooks: order events POSTed, signed, to the endpoints a shop registers."""

from services.webhooks.deliveries import Delivery, DeliveryStore, deliveries_for
from services.webhooks.dispatcher import Dispatcher, DispatchPolicy
from services.webhooks.endpoints import Endpoint, Endpoints, EndpointsFileError

__all__ = [
    "Delivery",
    "DeliveryStore",
    "DispatchPolicy",
    "Dispatcher",
    "Endpoint",
    "Endpoints",
    "EndpointsFileError",
    "deliveries_for",
]
