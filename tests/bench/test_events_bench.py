"""`rtw bench events`, small: real workers, two real gateways, real streams; the result files
carry the latency and scale figures the issue asks for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_a_small_run_writes_latency_and_scale_figures(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable, "-m", "services", "bench", "events",
            "--sagas", "4", "--blocks", "2", "--concurrency", "2", "--streams", "4",
            "--backend", "sqlite", "--out-dir", str(tmp_path),
        ],
        capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (result_file,) = tmp_path.glob("events-*.json")
    (result,) = json.loads(result_file.read_text())["results"]
    assert result["backend"] == "sqlite"
    # 4 sagas x 2 clients x 9 events, every one measured live or read from the backlog
    streamed = [b for b in result["blocks"] if b["streams"]]
    assert streamed[0]["events_received"] == 4 * 2 * 9
    assert result["events_measured"] > 0
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p95"]
    assert result["gateway_peak_rss_mb"] > 0
    assert set(result["targets"]) == {
        "p95 <= 100 ms",
        "server CPU added <= 10 %",
        "gateway RSS under the chart limit",
    }
    markdown = next(tmp_path.glob("events-*.md")).read_text()
    assert "| sqlite |" in markdown
