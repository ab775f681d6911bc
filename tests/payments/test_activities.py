"""Payment activities: every side effect happens once per idempotency key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from services.contracts import (
    AuthorizePaymentRequest,
    CapturePaymentRequest,
    ChargePaymentRequest,
    LedgerSummaryRequest,
    RefundPaymentRequest,
    VoidAuthorizationRequest,
)
from services.payments import EntryKind, PaymentActivities, SimulatedProvider, SqliteLedger


class CountingProvider(SimulatedProvider):
    """The simulated provider, counting calls that reach the provider's network."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def _network(self) -> None:
        self.calls.append("call")


@pytest.fixture
async def ledger(data_dir: Path) -> AsyncIterator[SqliteLedger]:
    ledger = SqliteLedger(data_dir / "ledger.sqlite3")
    yield ledger
    await ledger.close()


@pytest.fixture
def provider() -> CountingProvider:
    return CountingProvider()


@pytest.fixture
def payments(ledger: SqliteLedger, provider: CountingProvider) -> PaymentActivities:
    return PaymentActivities(ledger=ledger, provider=provider)


env = ActivityEnvironment()

AUTH = AuthorizePaymentRequest(
    idempotency_key="order-o-1:authorize",
    order_id="o-1",
    customer_id="c-1",
    payment_method="pm_card_visa",
    amount_cents=3000,
    currency="USD",
)
CAPTURE = CapturePaymentRequest(
    idempotency_key="order-o-1:capture", order_id="o-1", authorization_key=AUTH.idempotency_key
)
REFUND = RefundPaymentRequest(
    idempotency_key="order-o-1:refund", order_id="o-1", capture_key=CAPTURE.idempotency_key
)
VOID = VoidAuthorizationRequest(
    idempotency_key="order-o-1:void", order_id="o-1", authorization_key=AUTH.idempotency_key
)


async def kinds(ledger: SqliteLedger) -> list[EntryKind]:
    return [e.kind for e in await ledger.entries(order_id="o-1")]


async def test_authorize_twice_holds_money_once(
    payments: PaymentActivities, ledger: SqliteLedger, provider: CountingProvider
) -> None:
    first = await env.run(payments.authorize, AUTH)
    second = await env.run(payments.authorize, AUTH)

    assert first == second
    assert first.amount_cents == 3000
    assert first.applied
    assert await kinds(ledger) == [EntryKind.AUTHORIZATION]
    assert len(provider.calls) == 1, "the retry must be answered from the ledger"


async def test_declined_card_is_a_non_retryable_business_failure(
    payments: PaymentActivities, ledger: SqliteLedger
) -> None:
    declined = AUTH.model_copy(update={"payment_method": "pm_card_chargeDeclined"})

    with pytest.raises(ApplicationError) as err:
        await env.run(payments.authorize, declined)

    assert err.value.type == "PaymentDeclined"
    assert err.value.non_retryable
    assert await kinds(ledger) == []


async def test_capture_twice_moves_money_once(
    payments: PaymentActivities, ledger: SqliteLedger
) -> None:
    await env.run(payments.authorize, AUTH)
    first = await env.run(payments.capture, CAPTURE)
    second = await env.run(payments.capture, CAPTURE)

    assert first == second
    assert first.amount_cents == 3000
    assert await kinds(ledger) == [EntryKind.AUTHORIZATION, EntryKind.CAPTURE]


async def test_capture_without_authorization_fails_non_retryably(
    payments: PaymentActivities,
) -> None:
    with pytest.raises(ApplicationError) as err:
        await env.run(payments.capture, CAPTURE)
    assert err.value.type == "AuthorizationMissing"
    assert err.value.non_retryable


async def test_refund_twice_refunds_once(payments: PaymentActivities, ledger: SqliteLedger) -> None:
    await env.run(payments.authorize, AUTH)
    await env.run(payments.capture, CAPTURE)
    first = await env.run(payments.refund, REFUND)
    second = await env.run(payments.refund, REFUND)

    assert first == second
    assert first.applied
    assert first.amount_cents == 3000
    assert await kinds(ledger) == [EntryKind.AUTHORIZATION, EntryKind.CAPTURE, EntryKind.REFUND]


async def test_refund_without_capture_is_a_noop(
    payments: PaymentActivities, ledger: SqliteLedger, provider: CountingProvider
) -> None:
    await env.run(payments.authorize, AUTH)
    result = await env.run(payments.refund, REFUND)

    assert not result.applied
    assert result.amount_cents == 0
    assert await kinds(ledger) == [EntryKind.AUTHORIZATION]
    assert len(provider.calls) == 1


async def test_void_twice_releases_once_and_never_after_capture(
    payments: PaymentActivities, ledger: SqliteLedger
) -> None:
    assert not (await env.run(payments.void, VOID)).applied, "nothing authorized: no-op"

    await env.run(payments.authorize, AUTH)
    first = await env.run(payments.void, VOID)
    second = await env.run(payments.void, VOID)
    assert first == second
    assert first.applied
    assert await kinds(ledger) == [EntryKind.AUTHORIZATION, EntryKind.VOID]


async def test_void_after_capture_is_a_noop(
    payments: PaymentActivities, ledger: SqliteLedger
) -> None:
    await env.run(payments.authorize, AUTH)
    await env.run(payments.capture, CAPTURE)

    assert not (await env.run(payments.void, VOID)).applied
    assert await kinds(ledger) == [EntryKind.AUTHORIZATION, EntryKind.CAPTURE]


async def test_ledger_survives_a_restart_so_a_retry_after_a_crash_is_answered(
    data_dir: Path, provider: CountingProvider
) -> None:
    before = SqliteLedger(data_dir / "ledger.sqlite3")
    first = await env.run(PaymentActivities(ledger=before, provider=provider).authorize, AUTH)
    await before.close()

    after = SqliteLedger(data_dir / "ledger.sqlite3")
    try:
        again = await env.run(PaymentActivities(ledger=after, provider=provider).authorize, AUTH)
        assert again == first
        assert len(await after.entries()) == 1
    finally:
        await after.close()


CHARGE = ChargePaymentRequest(
    idempotency_key="subscription-s-1:cycle-1:try-1",
    order_id="subscription-s-1",
    customer_id="c-1",
    payment_method="pm_card_visa",
    amount_cents=1999,
    currency="EUR",
)


async def test_charge_twice_takes_money_once(
    payments: PaymentActivities, ledger: SqliteLedger, provider: CountingProvider
) -> None:
    first = await env.run(payments.charge, CHARGE)
    second = await env.run(payments.charge, CHARGE)

    assert first == second
    assert first.amount_cents == 1999
    entries = await ledger.entries(order_id="subscription-s-1")
    assert [(e.kind, e.amount_cents) for e in entries] == [(EntryKind.CAPTURE, 1999)]
    assert len(provider.calls) == 2, "authorize + capture once; the retry is a ledger read"


async def test_declined_charge_records_nothing(
    payments: PaymentActivities, ledger: SqliteLedger
) -> None:
    declined = CHARGE.model_copy(update={"payment_method": "pm_card_chargeDeclined"})
    with pytest.raises(ApplicationError) as err:
        await env.run(payments.charge, declined)
    assert err.value.type == "PaymentDeclined"
    assert err.value.non_retryable
    assert await ledger.entries() == []


async def test_ledger_summary_totals_captures_and_refunds_per_order(
    payments: PaymentActivities,
) -> None:
    await env.run(payments.authorize, AUTH)
    await env.run(payments.capture, CAPTURE)
    await env.run(payments.refund, REFUND)
    await env.run(payments.charge, CHARGE)
    uncaptured = AUTH.model_copy(
        update={"idempotency_key": "order-o-2:authorize", "order_id": "o-2"}
    )
    await env.run(payments.authorize, uncaptured)

    summary = await env.run(payments.ledger_summary, LedgerSummaryRequest())

    totals = {m.order_id: (m.captured_cents, m.refunded_cents) for m in summary.orders}
    assert totals == {"o-1": (3000, 3000), "subscription-s-1": (1999, 0)}
    o1 = next(m for m in summary.orders if m.order_id == "o-1")
    assert o1.capture_keys == [CAPTURE.idempotency_key]
    future = await env.run(payments.ledger_summary, LedgerSummaryRequest(since="9999-01-01"))
    assert future.orders == []
