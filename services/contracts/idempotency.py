"""The Idempotency-Key marker: a workflow whose id is derived from the key, one per key.

Starting it with the id-reuse policy *reject duplicate* is atomic on the server: of any
number of requests racing with one key, exactly one starts it, and its memo names the order
id the key is bound to from then on, for as long as the namespace retains closed workflows.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict

from services.contracts.orders import Identifier

IDEMPOTENCY_KEY_WORKFLOW = "IdempotencyKey"
#: Memo key of the marker: the order id its key is bound to (read without a worker).
BOUND_ORDER_MEMO = "rtw_order_id"


def idempotency_workflow_id(key: str) -> str:
    """The marker's workflow id: `idempotency-<sha256 of the key>` (any key, fixed length)."""
    return f"idempotency-{hashlib.sha256(key.encode()).hexdigest()}"


class IdempotencyKeyClaim(BaseModel):
    """The marker's input and result: the order id the key is bound to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_id: Identifier
