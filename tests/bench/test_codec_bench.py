"""`rtw bench codec`: the in-process codec measurement and the summary arithmetic."""

from __future__ import annotations

from services.bench.codec import measure_codec, summarize
from services.bench.saga_blocks import BlockResult


async def test_the_codec_measurement_reports_time_and_size() -> None:
    micro = await measure_codec(50)
    assert micro["encode_us_per_payload"] > 0
    assert micro["decode_us_per_payload"] > 0
    # nonce (12) + tag (16) + the key id and cipher metadata
    assert micro["encrypted_bytes"] > micro["plain_bytes"] + 28


def test_summary_is_the_ratio_of_medians() -> None:
    def block(variant: str, rate: float, cpu: float) -> BlockResult:
        return BlockResult(
            variant=variant,
            sagas=60,
            seconds=60 / rate,
            sagas_per_second=rate,
            worker_cpu_seconds={"orchestration": cpu * 60 / 1000},
            cpu_ms_per_saga=cpu,
            spans_exported=0,
            latencies_ms=[100.0, 200.0],
        )

    summary = summarize(
        [block("off", 10, 50), block("on", 9, 55), block("off", 12, 40), block("on", 9, 45)]
    )
    assert summary["off"]["sagas_per_second_median"] == 11
    assert summary["on"]["cpu_ms_per_saga_median"] == 50
    assert summary["encryption_cost"]["throughput_change_pct"] == round((9 / 11 - 1) * 100, 1)
    assert summary["encryption_cost"]["cpu_per_saga_change_pct"] == round((50 / 45 - 1) * 100, 1)
