"""OrderSaga's search attributes: `RtwOrderState` (and `RtwCustomerId`) kept current, so
visibility lists orders by state without asking a worker."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from services.contracts import (
        CUSTOMER_ID_ATTRIBUTE,
        ORDER_STATE_ATTRIBUTE,
        OrderPolicy,
        OrderState,
    )

ORDER_STATE_KEY = SearchAttributeKey.for_keyword(ORDER_STATE_ATTRIBUTE)
CUSTOMER_ID_KEY = SearchAttributeKey.for_keyword(CUSTOMER_ID_ATTRIBUTE)


class StatePublisher:
    """Upserts the order's state when it changes; silent until the policy (recorded in the
    history) says the namespace has the attributes."""

    def __init__(self) -> None:
        self._enabled = False
        self._customer_id: str | None = None
        self._published: OrderState | None = None

    def enable(self, policy: OrderPolicy, customer_id: str) -> None:
        """Start publishing, with the customer id when the policy allows it."""
        self._enabled = policy.search_attributes
        if policy.search_attributes and policy.customer_search_attribute:
            self._customer_id = customer_id

    def publish(self, state: OrderState) -> None:
        """One upsert when `state` differs from the last one published."""
        if not self._enabled or state is self._published:
            return
        updates = [ORDER_STATE_KEY.value_set(state.value)]
        if self._published is None and self._customer_id is not None:
            updates.append(CUSTOMER_ID_KEY.value_set(self._customer_id))
        workflow.upsert_search_attributes(updates)
        self._published = state
