"""The order search attributes (`RtwOrderState`, `RtwCustomerId`, `RtwIdempotencyKey`):
are they registered?"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError

from services.contracts import ORDER_SEARCH_ATTRIBUTES

logger = logging.getLogger(__name__)

KEYWORD = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD


async def order_search_attributes_registered(client: Client) -> bool:
    """True when the namespace has both order attributes as Keyword.

    Sagas upsert them only then: upserting an unknown attribute would fail every workflow
    task of the saga. Without them, orders run as before and cannot be listed by state.
    """
    missing = await missing_keywords(client, ORDER_SEARCH_ATTRIBUTES)
    if missing is None:
        logger.warning("cannot list search attributes: orders will not be listable")
        return False
    if missing:
        logger.warning(
            "search attributes %s are not registered as Keyword in namespace %r: orders run, "
            "but cannot be listed by state or customer (register them: docs/operations.md, "
            "'Listing orders')",
            ", ".join(missing),
            client.namespace,
        )
        return False
    return True


async def missing_keywords(client: Client, names: Sequence[str]) -> list[str] | None:
    """Which of `names` the namespace lacks as Keyword attributes; None if it cannot tell."""
    try:
        response = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace),
            timeout=timedelta(seconds=10),
        )
    except RPCError as exc:
        logger.warning("cannot list search attributes: %s", exc)
        return None
    return [name for name in names if response.custom_attributes.get(name) != KEYWORD]
