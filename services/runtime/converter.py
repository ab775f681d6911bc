"""rtw's data converter: pydantic JSON, and untyped inputs that never wedge a workflow task.

Typed values (`type_hints` given) decode exactly as with the SDK's pydantic converter. An
untyped value that cannot be decoded (a foreign encoding, invalid JSON, JSON nested past
pydantic's recursion limit) becomes an `UndecodablePayload` instead of an exception. Workflow
entry points that face outside callers take untyped arguments (`*args: Any`) for that reason:
the SDK decodes run arguments outside the workflow's code, so a raising decode would fail
the workflow task on every retry instead of failing the run once, typed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter, PydanticPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
)

from services.contracts.payloads import UndecodablePayload

#: How much of a decoding error's text is kept.
REASON_CHARS = 300


#: The encoding converters of every `RtwPayloadConverter`, built once per process. The SDK
#: makes a payload converter for every workflow run (in its sandbox) and another each time
#: it clones its data converter for a serialization context; built anew, each had an empty
#: pydantic TypeAdapter cache and a fresh schema serializer (a fresh converter and its
#: first decodes: 50 us, against 7 us for these; measured with timeit). Stateless but for
#: that cache, which is thread-safe (functools.lru_cache) and bounded (1024 types).
SHARED_CONVERTERS: tuple[EncodingPayloadConverter, ...] = tuple(
    PydanticJSONPlainPayloadConverter() if isinstance(c, JSONPlainPayloadConverter) else c
    for c in DefaultPayloadConverter.default_encoding_payload_converters
)


class RtwPayloadConverter(PydanticPayloadConverter):
    """Pydantic JSON; undecodable untyped payloads become `UndecodablePayload` values."""

    def __init__(self) -> None:
        """The SDK's pydantic converter, sharing `SHARED_CONVERTERS`."""
        CompositePayloadConverter.__init__(self, *SHARED_CONVERTERS)

    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: list[type] | None = None
    ) -> list[Any]:
        """Decode; see the module docstring for untyped payloads."""
        if type_hints is not None:
            return super().from_payloads(payloads, type_hints)
        try:
            return super().from_payloads(payloads, None)
        except Exception:  # at least one cannot be decoded: find which, one at a time
            return self._one_at_a_time(payloads)

    def _one_at_a_time(self, payloads: Sequence[Payload]) -> list[Any]:
        """Each payload decoded on its own; one that cannot be is an `UndecodablePayload`."""
        values: list[Any] = []
        for payload in payloads:
            try:
                values.extend(super().from_payloads([payload], None))
            except Exception as exc:
                encoding = payload.metadata.get("encoding", b"").decode(errors="replace")
                reason = " ".join(str(exc).split())[:REASON_CHARS] or type(exc).__name__
                values.append(UndecodablePayload(encoding, len(payload.data), reason))
        return values


#: The data converter of every rtw client and worker (installed by `RtwPlugin`).
rtw_data_converter = DataConverter(payload_converter_class=RtwPayloadConverter)
