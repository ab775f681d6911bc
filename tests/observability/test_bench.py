"""`rtw bench tracing` pieces: CPU from /proc, the summary's arithmetic, the command."""

from __future__ import annotations

import os
import subprocess
import sys

from services.bench.procstat import cpu_seconds
from services.bench.saga_blocks import BlockResult
from services.bench.tracing import summarize


def test_cpu_time_is_read_from_proc() -> None:
    before = cpu_seconds(os.getpid())
    sum(i * i for i in range(300_000))  # burn a little CPU
    assert cpu_seconds(os.getpid()) >= before > 0


def block(variant: str, rate: float, cpu_ms: float, spans: int) -> BlockResult:
    return BlockResult(
        variant=variant,
        sagas=10,
        seconds=10 / rate,
        sagas_per_second=rate,
        worker_cpu_seconds={"orchestration": cpu_ms / 100},
        cpu_ms_per_saga=cpu_ms,
        spans_exported=spans,
        latencies_ms=[100.0, 200.0, 300.0],
    )


def test_summary_compares_medians_of_interleaved_blocks() -> None:
    summary = summarize(
        [
            block("off", 10.0, 50.0, 0),
            block("on", 9.0, 55.0, 200),
            block("off", 12.0, 40.0, 0),
            block("on", 9.0, 45.0, 200),
        ]
    )
    assert summary["off"]["sagas_per_second_median"] == 11.0
    assert summary["on"]["cpu_ms_per_saga_median"] == 50.0
    assert summary["on"]["spans_per_saga"] == 20.0
    assert summary["on"]["p50_latency_ms_median"] == 200.0
    assert summary["tracing_cost"] == {
        "throughput_change_pct": -18.2,
        "cpu_per_saga_change_pct": 11.1,
    }


def test_the_command_is_registered() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "services", "bench", "tracing", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "--sagas" in out.stdout
