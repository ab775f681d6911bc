"""Validating what starts or steers an OrderSaga: the order, and approve/reject payloads.

Pure functions, safe inside the workflow sandbox. Every refusal is a non-retryable
`ApplicationError` with a type and a message that names the problem.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from temporalio.exceptions import ApplicationError

from services.contracts import (
    INVALID_DECISION,
    INVALID_ORDER,
    MAX_DECISION_BYTES,
    PAYLOAD_TOO_LARGE,
    ApprovalRequest,
    OrderInput,
    UndecodablePayload,
)


def describe_validation_error(error: ValidationError, *, what: str = "order") -> str:
    """One line naming every bad field, e.g. `items.0.quantity: Input should be > 0`."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or what
        parts.append(f"{where}: {item['msg']}")
    return f"invalid {what}: " + "; ".join(parts)


def _invalid_order(message: str) -> ApplicationError:
    return ApplicationError(message, type=INVALID_ORDER, non_retryable=True)


def parse_order(raw: Any) -> OrderInput:
    """Validate raw JSON into an order, or raise a non-retryable `InvalidOrder` error."""
    if isinstance(raw, UndecodablePayload):
        raise _invalid_order(f"invalid order: {raw.describe()}")
    try:
        return OrderInput.model_validate(raw)
    except ValidationError as exc:
        raise _invalid_order(describe_validation_error(exc)) from None
    except (RecursionError, ValueError, TypeError) as exc:
        raise _invalid_order(f"invalid order: {type(exc).__name__}: {exc}") from None


def parse_order_args(args: Sequence[Any]) -> OrderInput:
    """The saga's start arguments: exactly one order."""
    if len(args) != 1:
        raise _invalid_order(f"invalid order: expected exactly one input, got {len(args)}")
    return parse_order(args[0])


def _encoded_size(raw: Any) -> int:
    try:
        return len(json.dumps(raw, default=str))
    except (RecursionError, ValueError, TypeError):
        return MAX_DECISION_BYTES + 1


def parse_decision(args: Sequence[Any]) -> ApprovalRequest:
    """An `approve`/`reject` payload: one object of at most `MAX_DECISION_BYTES`.

    Raises `PayloadTooLarge` or `InvalidDecision`.
    """
    if len(args) != 1:
        raise ApplicationError(
            f"expected one decision payload, got {len(args)}",
            type=INVALID_DECISION,
            non_retryable=True,
        )
    raw = args[0]
    size = raw.size if isinstance(raw, UndecodablePayload) else _encoded_size(raw)
    if size > MAX_DECISION_BYTES:
        raise ApplicationError(
            f"decision payload of {size} bytes exceeds {MAX_DECISION_BYTES}",
            type=PAYLOAD_TOO_LARGE,
            non_retryable=True,
        )
    if isinstance(raw, UndecodablePayload):
        raise ApplicationError(raw.describe(), type=INVALID_DECISION, non_retryable=True)
    try:
        return ApprovalRequest.model_validate(raw)
    except ValidationError as exc:
        raise ApplicationError(
            describe_validation_error(exc, what="decision"),
            type=INVALID_DECISION,
            non_retryable=True,
        ) from None
