"""Payment provider port, and a stand-in for the provider's network (Stripe-style tokens)."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Protocol

#: Test payment methods, named as in Stripe's test mode.
CARD_OK = "pm_card_visa"
CARD_DECLINED = "pm_card_chargeDeclined"


class PaymentDeclinedError(Exception):
    """The provider refused the charge; retrying will not help."""


@dataclass(frozen=True)
class ProviderCharge:
    """The provider's reference for one operation."""

    reference: str


class PaymentProvider(Protocol):
    """What the payments service needs from a card processor.

    Every call takes an idempotency key; a real provider (Stripe, Adyen) dedupes on it,
    so a retried call after a crash returns the first result instead of moving money again.
    """

    async def authorize(
        self, *, idempotency_key: str, payment_method: str, amount_cents: int, currency: str
    ) -> ProviderCharge: ...

    async def capture(self, *, idempotency_key: str, authorization_ref: str) -> ProviderCharge: ...

    async def void(self, *, idempotency_key: str, authorization_ref: str) -> ProviderCharge: ...

    async def refund(self, *, idempotency_key: str, capture_ref: str) -> ProviderCharge: ...


class SimulatedProvider:
    """Offline stand-in for a card processor: deterministic references, optional latency.

    `pm_card_chargeDeclined` is declined; any other `pm_card_*` token succeeds. References
    derive from the idempotency key, so repeats are naturally idempotent like a real provider.
    """

    def __init__(self, *, latency_ms: int = 0) -> None:
        self._latency = latency_ms / 1000

    async def _network(self) -> None:
        if self._latency:
            await asyncio.sleep(self._latency)

    @staticmethod
    def _ref(prefix: str, key: str) -> str:
        return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:20]}"

    async def authorize(
        self, *, idempotency_key: str, payment_method: str, amount_cents: int, currency: str
    ) -> ProviderCharge:
        await self._network()
        if payment_method == CARD_DECLINED or not payment_method.startswith("pm_card_"):
            raise PaymentDeclinedError(f"card declined for payment method {payment_method!r}")
        return ProviderCharge(self._ref("auth", idempotency_key))

    async def capture(self, *, idempotency_key: str, authorization_ref: str) -> ProviderCharge:
        await self._network()
        return ProviderCharge(self._ref("ch", idempotency_key))

    async def void(self, *, idempotency_key: str, authorization_ref: str) -> ProviderCharge:
        await self._network()
        return ProviderCharge(self._ref("void", idempotency_key))

    async def refund(self, *, idempotency_key: str, capture_ref: str) -> ProviderCharge:
        await self._network()
        return ProviderCharge(self._ref("re", idempotency_key))
