"""The off-vs-on benchmarks' shared summary: medians, relative change, the block record."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from services.bench.off_on import compare, write_report
from services.bench.saga_blocks import BlockResult
from services.bench.versioning import summarize as versioning_summary


def block(variant: str, rate: float, cpu_ms: float, *, failures: int = 0) -> BlockResult:
    return BlockResult(
        variant=variant,
        sagas=10,
        seconds=10 / rate,
        sagas_per_second=rate,
        worker_cpu_seconds={"orchestration": cpu_ms / 100},
        cpu_ms_per_saga=cpu_ms,
        spans_exported=0,
        failures=failures,
        latencies_ms=[100.0, 150.0] if variant in ("off", "unversioned") else [120.0, 180.0],
    )


def test_the_change_is_on_against_off_in_percent_of_medians() -> None:
    blocks = [block("off", 10, 50), block("on", 8, 60, failures=2), block("off", 12, 40)]
    summary = compare(blocks, off="off", on="on", cost="x_cost")
    assert summary["off"] == {
        "blocks": 2,
        "sagas_per_second_median": 11.0,
        "cpu_ms_per_saga_median": 45.0,
        "p50_latency_ms_median": 125.0,
        "failures": 0,
    }
    assert summary["on"]["failures"] == 2
    assert summary["x_cost"] == {
        "throughput_change_pct": round((8 / 11 - 1) * 100, 1),
        "cpu_per_saga_change_pct": round((60 / 45 - 1) * 100, 1),
        "p50_latency_change_pct": 20.0,
    }


def test_a_variant_without_blocks_gives_no_change_rather_than_a_wrong_one() -> None:
    summary = compare([block("off", 10, 50)], off="off", on="on", cost="x_cost")
    assert set(summary) == {"off"}


def test_versioning_compares_versioned_against_unversioned() -> None:
    summary = versioning_summary(
        [block("unversioned", 10, 50), block("versioned", 9, 55, failures=1)]
    )
    assert summary["versioned"]["failures"] == 1
    assert summary["versioning_cost"] == {
        "throughput_change_pct": -10.0,
        "cpu_per_saga_change_pct": 10.0,
        "p50_latency_change_pct": 20.0,
    }


def test_a_block_record_drops_the_samples_and_rounds_p50(tmp_path: Path) -> None:
    record = block("off", 10, 50).record(without=("spans_exported",))
    assert record["p50_ms"] == 125.0
    assert "latencies_ms" not in record
    assert "spans_exported" not in record
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    json_path, md_path = write_report(
        tmp_path, "x", started=started, payload={"blocks": [record]}, markdown="# x\n"
    )
    assert json_path.name == "x-20260102T030405Z.json"
    assert json.loads(json_path.read_text())["blocks"] == [record]
    assert md_path.read_text() == "# x\n"
