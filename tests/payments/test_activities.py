"""Payment activities on both ledger backends: every side effect once per idempotency key,
and only where the money's state allows it."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.testing import ActivityEnvironment

from services.contracts import (
    AuthorizePaymentRequest,
    CapturePaymentRequest,
    ChargePaymentRequest,
    LedgerSummaryRequest,
    RefundPaymentRequest,
    VoidAuthorizationRequest,
)
from services.events import events_for
from services.payments import EntryKind, Ledger, PaymentActivities, SimulatedProvider, ledger_for
from services.runtime.database import Database


class CountingProvider(SimulatedProvider):
    """The simulated provider, counting calls that reach the provider's network."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def _network(self) -> None:
        self.calls.append("call")


@pytest.fixture
def ledger(database: Database) -> Ledger:
    return ledger_for(database)


@pytest.fixture
def provider() -> CountingProvider:
    return CountingProvider()


@pytest.fixture
def payments(database: Database, ledger: Ledger, provider: CountingProvider) -> PaymentActivities:
    return PaymentActivities(ledger=ledger, provider=provider, events=events_for(database))


env = ActivityEnvironment()

AUTH = AuthorizePaymentRequest(
    idempotency_key="order-o-1:run-1:authorize",
    order_id="o-1",
    customer_id="c-1",
    payment_method="pm_card_visa",
    amount_cents=3000,
    currency="USD",
)
AUTH_REF = SimulatedProvider._ref("auth", AUTH.idempotency_key)
CAPTURE = CapturePaymentRequest(
    idempotency_key="order-o-1:run-1:capture",
    order_id="o-1",
    authorization_key=AUTH.idempotency_key,
    authorization_ref=AUTH_REF,
    amount_cents=3000,
)
REFUND = RefundPaymentRequest(
    idempotency_key="order-o-1:run-1:refund", order_id="o-1", capture_key=CAPTURE.idempotency_key
)
VOID = VoidAuthorizationRequest(
    idempotency_key="order-o-1:run-1:void",
    order_id="o-1",
    authorization_key=AUTH.idempotency_key,
)


async def kinds(ledger: Ledger, order_id: str = "o-1") -> list[EntryKind]:
    return [e.kind for e in await ledger.entries(order_id=order_id)]


async def refused(call: object, request: object) -> ApplicationError:
    with pytest.raises(ApplicationError) as err:
        await env.run(call, request)  # type: ignore[arg-type]
    assert err.value.non_retryable, "a forbidden movement must not be retried"
    return err.value


async def test_authorize_twice_holds_money_once(
    payments: PaymentActivities, ledger: Ledger, provider: CountingProvider
) -> None:
    first = await env.run(payments.authorize, AUTH)
    second = await env.run(payments.authorize, AUTH)

    assert first == second
    assert first.amount_cents == 3000
    assert first.provider_ref == AUTH_REF
    assert await kinds(ledger) == [EntryKind.AUTHORIZATION]
    assert len(provider.calls) == 1, "the retry must be answered from the ledger"


async def test_same_key_with_another_amount_is_an_idempotency_conflict(
    payments: PaymentActivities, ledger: Ledger
) -> None:
    await env.run(payments.authorize, AUTH)
    err = await refused(payments.authorize, AUTH.model_copy(update={"amount_cents": 9999}))
    assert err.type == "IdempotencyConflict"
    assert await kinds(ledger) == [EntryKind.AUTHORIZATION]


async def test_declined_card_is_a_non_retryable_business_failure(
    payments: PaymentActivities, ledger: Ledger
) -> None:
    declined = AUTH.model_copy(update={"payment_method": "pm_card_chargeDeclined"})
    err = await refused(payments.authorize, declined)
    assert err.type == "PaymentDeclined"
    assert err.category is ApplicationErrorCategory.BENIGN, "an outcome, not a worker fault"
    assert await kinds(ledger) == []


async def test_capture_twice_moves_money_once(payments: PaymentActivities, ledger: Ledger) -> None:
    await env.run(payments.authorize, AUTH)
    first = await env.run(payments.capture, CAPTURE)
    second = await env.run(payments.capture, CAPTURE)

    assert first == second
    assert first.amount_cents == 3000
    assert await kinds(ledger) == [EntryKind.AUTHORIZATION, EntryKind.CAPTURE]


async def test_capture_without_authorization_is_refused_before_the_provider(
    payments: PaymentActivities, provider: CountingProvider
) -> None:
    err = await refused(payments.capture, CAPTURE)
    assert err.type == "AuthorizationMissing"
    assert provider.calls == []


async def test_capture_after_void_is_refused(
    payments: PaymentActivities, ledger: Ledger, provider: CountingProvider
) -> None:
    await env.run(payments.authorize, AUTH)
    await env.run(payments.void, VOID.model_copy(update={"authorization_ref": AUTH_REF}))
    calls = len(provider.calls)

    err = await refused(payments.capture, CAPTURE)

    assert err.type == "AuthorizationVoided"
    assert len(provider.calls) == calls, "no money moves for a refused capture"
    assert await kinds(ledger) == [EntryKind.AUTHORIZATION, EntryKind.VOID]


async def test_a_second_capture_of_one_authorization_is_refused(
    payments: PaymentActivities, ledger: Ledger
) -> None:
    await env.run(payments.authorize, AUTH)
    await env.run(payments.capture, CAPTURE)
    other_key = CAPTURE.model_copy(update={"idempotency_key": "order-o-1:run-1:capture-again"})

    err = await refused(payments.capture, other_key)

    assert err.type == "AlreadyCaptured"
    assert await kinds(ledger) == [EntryKind.AUTHORIZATION, EntryKind.CAPTURE]


async def test_one_capture_per_order_even_through_another_authorization(
    payments: PaymentActivities, ledger: Ledger
) -> None:
    """The same order under a second saga (another workflow id) authorizes again; the
    second capture is refused by the ledger, so the customer is charged once."""
    await env.run(payments.authorize, AUTH)
    await env.run(payments.capture, CAPTURE)
    second_auth = AUTH.model_copy(update={"idempotency_key": "order-x:run-2:authorize"})
    auth2 = await env.run(payments.authorize, second_auth)
    second_capture = CAPTURE.model_copy(
        update={
            "idempotency_key": "order-x:run-2:capture",
            "authorization_key": second_auth.idempotency_key,
            "authorization_ref": auth2.provider_ref,
        }
    )

    err = await refused(payments.capture, second_capture)

    assert err.type == "AlreadyCaptured"
    assert (await kinds(ledger)).count(EntryKind.CAPTURE) == 1


async def test_capture_above_the_authorized_amount_is_refused(
    payments: PaymentActivities,
) -> None:
    await env.run(payments.authorize, AUTH)
    err = await refused(payments.capture, CAPTURE.model_copy(update={"amount_cents": 3001}))
    assert err.type == "AmountExceedsAuthorization"


async def test_capture_with_a_reference_the_ledger_does_not_hold_is_refused(
    payments: PaymentActivities,
) -> None:
    await env.run(payments.authorize, AUTH)
    err = await refused(
        payments.capture, CAPTURE.model_copy(update={"authorization_ref": "auth_elsewhere"})
    )
    assert err.type == "AuthorizationMissing"


async def test_refund_twice_refunds_once(payments: PaymentActivities, ledger: Ledger) -> None:
    await env.run(payments.authorize, AUTH)
    await env.run(payments.capture, CAPTURE)
    first = await env.run(payments.refund, REFUND)
    second = await env.run(payments.refund, REFUND)

    assert first == second
    assert first.applied
    assert first.amount_cents == 3000
    assert await kinds(ledger) == [EntryKind.AUTHORIZATION, EntryKind.CAPTURE, EntryKind.REFUND]


async def test_a_second_refund_beyond_the_capture_moves_nothing(
    payments: PaymentActivities, ledger: Ledger
) -> None:
    await env.run(payments.authorize, AUTH)
    await env.run(payments.capture, CAPTURE)
    await env.run(payments.refund, REFUND)
    again = await env.run(
        payments.refund, REFUND.model_copy(update={"idempotency_key": "order-o-1:run-1:refund-2"})
    )
    assert not again.applied
    assert (await kinds(ledger)).count(EntryKind.REFUND) == 1


async def test_refund_without_capture_is_a_noop(
    payments: PaymentActivities, ledger: Ledger, provider: CountingProvider
) -> None:
    await env.run(payments.authorize, AUTH)
    result = await env.run(payments.refund, REFUND)

    assert not result.applied
    assert result.amount_cents == 0
    assert await kinds(ledger) == [EntryKind.AUTHORIZATION]
    assert len(provider.calls) == 1


async def test_void_twice_releases_once(payments: PaymentActivities, ledger: Ledger) -> None:
    assert not (await env.run(payments.void, VOID)).applied, "nothing authorized: no-op"

    await env.run(payments.authorize, AUTH)
    first = await env.run(payments.void, VOID)
    second = await env.run(payments.void, VOID)
    assert first == second
    assert first.applied
    assert await kinds(ledger) == [EntryKind.AUTHORIZATION, EntryKind.VOID]


async def test_void_after_capture_is_a_noop(payments: PaymentActivities, ledger: Ledger) -> None:
    await env.run(payments.authorize, AUTH)
    await env.run(payments.capture, CAPTURE)

    assert not (await env.run(payments.void, VOID)).applied
    assert await kinds(ledger) == [EntryKind.AUTHORIZATION, EntryKind.CAPTURE]


async def test_void_of_an_authorization_the_ledger_lacks_fails_loudly(
    payments: PaymentActivities,
) -> None:
    """The saga holds a reference the ledger does not: the stores are not shared. A silent
    no-op here would leave the card hold open."""
    err = await refused(payments.void, VOID.model_copy(update={"authorization_ref": AUTH_REF}))
    assert err.type == "AuthorizationMissing"
    assert "RTW_DATABASE_URL" in err.message


async def test_concurrent_captures_by_many_replicas_capture_once(
    database: Database, provider: CountingProvider
) -> None:
    """Eight activity instances (each its own ledger object, like replicas) capture one
    authorization under different keys at once: the database lets exactly one through."""
    import asyncio

    replicas = [
        PaymentActivities(
            ledger=ledger_for(database), provider=provider, events=events_for(database)
        )
        for _ in range(8)
    ]
    await env.run(replicas[0].authorize, AUTH)

    async def capture(i: int) -> str:
        request = CAPTURE.model_copy(update={"idempotency_key": f"order-o-1:run-1:capture-{i}"})
        try:
            await env.run(replicas[i].capture, request)
            return "captured"
        except ApplicationError as err:
            return err.type or ""

    outcomes = await asyncio.gather(*(capture(i) for i in range(8)))

    assert outcomes.count("captured") == 1, outcomes
    assert set(outcomes) == {"captured", "AlreadyCaptured"}
    assert (await kinds(ledger_for(database))).count(EntryKind.CAPTURE) == 1


CHARGE = ChargePaymentRequest(
    idempotency_key="subscription-s-1:cycle-1:try-1",
    order_id="subscription-s-1",
    customer_id="c-1",
    payment_method="pm_card_visa",
    amount_cents=1999,
    currency="EUR",
)


async def test_charge_twice_takes_money_once(
    payments: PaymentActivities, ledger: Ledger, provider: CountingProvider
) -> None:
    first = await env.run(payments.charge, CHARGE)
    second = await env.run(payments.charge, CHARGE)

    assert first == second
    assert first.amount_cents == 1999
    entries = await ledger.entries(order_id="subscription-s-1")
    assert [(e.kind, e.amount_cents) for e in entries] == [(EntryKind.CAPTURE, 1999)]
    assert len(provider.calls) == 2, "authorize + capture once; the retry is a ledger read"


async def test_declined_charge_records_nothing(payments: PaymentActivities, ledger: Ledger) -> None:
    declined = CHARGE.model_copy(update={"payment_method": "pm_card_chargeDeclined"})
    err = await refused(payments.charge, declined)
    assert err.type == "PaymentDeclined"
    assert err.category is ApplicationErrorCategory.BENIGN
    assert await ledger.entries() == []


async def test_ledger_summary_reports_saga_captures_and_open_authorizations(
    payments: PaymentActivities,
) -> None:
    await env.run(payments.authorize, AUTH)
    await env.run(payments.capture, CAPTURE)
    await env.run(payments.refund, REFUND)
    await env.run(payments.charge, CHARGE)
    held = AUTH.model_copy(
        update={"idempotency_key": "order-o-2:run-1:authorize", "order_id": "o-2"}
    )
    await env.run(payments.authorize, held)

    window = LedgerSummaryRequest(since="2000-01-01T00:00:00+00:00", dangling_before="9999-01-01")
    summary = await env.run(payments.ledger_summary, window)

    totals = {m.order_id: (m.captured_cents, m.refunded_cents) for m in summary.orders}
    assert totals == {"o-1": (3000, 3000)}, "only saga captures; the charge is not an order's"
    assert [(a.order_id, a.amount_cents) for a in summary.open_authorizations] == [("o-2", 3000)]
    not_yet = await env.run(
        payments.ledger_summary,
        LedgerSummaryRequest(since="2000-01-01T00:00:00+00:00", dangling_before="2000-01-02"),
    )
    assert not_yet.open_authorizations == [], "an authorization younger than the deadline"
    future = await env.run(
        payments.ledger_summary,
        LedgerSummaryRequest(since="9999-01-01T00:00:00+00:00", dangling_before="9999-01-02"),
    )
    assert future.orders == []
