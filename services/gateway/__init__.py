"""The HTTP gateway: order API, carrier webhooks and the approvals inbox (FastAPI).

Stateless: it talks to Temporal only, through the same client connection (TLS, API key,
plugin, tracing) as every rtw process.
"""

from services.gateway.app import create_app, openapi_document
from services.gateway.context import Gateway
from services.gateway.server import GatewayHost
from services.gateway.settings import GatewaySettings
from services.gateway.signing import SIGNATURE_HEADER, SignatureError, sign, verify

__all__ = [
    "SIGNATURE_HEADER",
    "Gateway",
    "GatewayHost",
    "GatewaySettings",
    "SignatureError",
    "create_app",
    "openapi_document",
    "sign",
    "verify",
]
