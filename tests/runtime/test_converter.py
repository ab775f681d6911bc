"""rtw's payload converter: cheap to build (the SDK builds one per workflow run), and an
untyped payload that cannot be decoded becomes a value instead of an error."""

from __future__ import annotations

from temporalio.api.common.v1 import Payload

from services.contracts import OrderStatus
from services.contracts.payloads import UndecodablePayload
from services.runtime.converter import RtwPayloadConverter


def test_every_converter_shares_one_json_converter_and_its_type_adapters() -> None:
    first, second = RtwPayloadConverter(), RtwPayloadConverter()
    json_first, json_second = first.converters[b"json/plain"], second.converters[b"json/plain"]
    assert json_first is json_second

    status = OrderStatus.model_validate(
        {"order_id": "o-1", "workflow_id": "order-o-1", "state": "completed", "currency": "USD",
         "total_cents": 1}
    )  # fmt: skip
    [decoded] = second.from_payloads(first.to_payloads([status]), [OrderStatus])
    assert decoded == status


def test_one_undecodable_untyped_payload_among_good_ones_keeps_its_place() -> None:
    converter = RtwPayloadConverter()
    good = converter.to_payloads([{"a": 1}, "two"])
    foreign = Payload(metadata={"encoding": b"binary/encrypted"}, data=b"\x00\x01")

    values = converter.from_payloads([good[0], foreign, good[1]], None)

    assert values[0] == {"a": 1}
    assert isinstance(values[1], UndecodablePayload)
    assert values[2] == "two"
    assert converter.from_payloads(good, None) == [{"a": 1}, "two"]
