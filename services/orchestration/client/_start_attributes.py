"""The search attributes an order starts with: its state and customer are published by the
start itself (part of the start, so not billed), not by an upsert from the saga."""

from __future__ import annotations

import weakref

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from services.contracts import (
    CUSTOMER_ID_KEY,
    IDEMPOTENCY_KEY,
    ORDER_SEARCH_ATTRIBUTES,
    ORDER_STATE_KEY,
    OrderInput,
    OrderState,
)
from services.orchestration.search_attributes import missing_keywords

#: Per client: does its namespace have the order attributes (asked once; an answer the
#: server could not give is asked again next time).
_registered: weakref.WeakKeyDictionary[Client, bool] = weakref.WeakKeyDictionary()


async def order_attributes_registered(client: Client) -> bool:
    """True when the client's namespace has `RtwOrderState` and `RtwCustomerId` (Keyword)."""
    known = _registered.get(client)
    if known is None:
        missing = await missing_keywords(client, ORDER_SEARCH_ATTRIBUTES)
        if missing is None:
            return False
        known = _registered[client] = not missing
    return known


async def start_attributes(
    client: Client, order: OrderInput, *, idempotency_key: str | None = None
) -> TypedSearchAttributes | None:
    """What a new order's saga starts with: `RtwOrderState=received` and, unless this
    client encrypts payloads (search attributes never are), `RtwCustomerId`, when the
    namespace has them; the Idempotency-Key when given (the caller knows the namespace has
    `RtwIdempotencyKey`). The saga then skips its first upsert (docs/capacity.md)."""
    pairs: list[SearchAttributePair[str]] = []
    if await order_attributes_registered(client):
        pairs.append(SearchAttributePair(ORDER_STATE_KEY, OrderState.RECEIVED.value))
        if client.data_converter.payload_codec is None:
            pairs.append(SearchAttributePair(CUSTOMER_ID_KEY, order.customer_id))
    if idempotency_key is not None:
        pairs.append(SearchAttributePair(IDEMPOTENCY_KEY, idempotency_key))
    return TypedSearchAttributes(pairs) if pairs else None
