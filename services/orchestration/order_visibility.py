"""OrderSaga's search attributes: `RtwOrderState` (and `RtwCustomerId`) kept current, so
visibility lists orders by state without asking a worker."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from services.contracts import (
        CUSTOMER_ID_KEY,
        ORDER_STATE_KEY,
        OrderPolicy,
        OrderState,
    )

_STATES = frozenset(state.value for state in OrderState)


class StatePublisher:
    """Upserts the order's state when it changes; silent until the policy (recorded in the
    history) says the namespace has the attributes.

    A saga started by an rtw client already has `RtwOrderState=received` (and the customer
    id) from its start, which costs nothing: the state stays `received` through the first
    steps, and the first upsert is the first state that lasts (awaiting approval, shipping,
    compensating). A start without them (the `temporal` CLI) gets `authorizing` upserted.
    """

    def __init__(self) -> None:
        self._enabled = False
        self._customer_id: str | None = None
        self._unset_customer = False
        self._published: OrderState | None = None

    def enable(self, policy: OrderPolicy, customer_id: str) -> None:
        """Start publishing, with the customer id when the policy allows it and the start
        did not set it (one the policy forbids goes with the first upsert)."""
        self._enabled = policy.search_attributes
        if not policy.search_attributes:
            return
        at_start = workflow.info().typed_search_attributes
        state = at_start.get(ORDER_STATE_KEY)
        if state in _STATES:  # anything else a client started with is replaced
            self._published = OrderState(state)
        has_customer = at_start.get(CUSTOMER_ID_KEY) is not None
        if policy.customer_search_attribute and not has_customer:
            self._customer_id = customer_id
        self._unset_customer = has_customer and not policy.customer_search_attribute

    @property
    def published_at_start(self) -> bool:
        """Whether the start published the order's state (`received`)."""
        return self._published is OrderState.RECEIVED

    def withdraw(self) -> None:
        """Take back what the start published: a run the claim refused (the order id is
        another run's) is not an order, and lists show only runs with a state."""
        at_start = workflow.info().typed_search_attributes
        if at_start.get(ORDER_STATE_KEY) is None and at_start.get(CUSTOMER_ID_KEY) is None:
            return
        workflow.upsert_search_attributes(
            [ORDER_STATE_KEY.value_unset(), CUSTOMER_ID_KEY.value_unset()]
        )

    def publish(self, state: OrderState) -> None:
        """One upsert when `state` differs from the last one published."""
        if not self._enabled or state is self._published:
            return
        updates = [ORDER_STATE_KEY.value_set(state.value)]
        if self._customer_id is not None:
            updates.append(CUSTOMER_ID_KEY.value_set(self._customer_id))
            self._customer_id = None
        if self._unset_customer:
            updates.append(CUSTOMER_ID_KEY.value_unset())
            self._unset_customer = False
        workflow.upsert_search_attributes(updates)
        self._published = state
