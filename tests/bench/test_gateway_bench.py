"""`rtw bench gateway`: wrk against the real gateway, real workers and the dev server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from services.bench.gateway import parse_wrk

WRK_OUTPUT = """Running 3s test @ http://127.0.0.1:1/orders
  1 threads and 16 connections
  Latency Distribution
     50%  457.50ms
     75%  862.66ms
     90%    1.07s
     99%    1.27s
  57 requests in 3.02s, 26.31KB read
  Non-2xx or 3xx responses: 2
Requests/sec:     18.89
status 201: 55
status 503: 2
"""


def test_wrk_output_is_read() -> None:
    assert parse_wrk(WRK_OUTPUT) == {
        "statuses": {201: 55, 503: 2},
        "requests": 57,
        "non_2xx": 2,
        "requests_per_second": 18.89,
        "p50_ms": 457.5,
        "p99_ms": 1270.0,
    }


@pytest.mark.integration
def test_gateway_bench_measures_both_endpoints_and_the_gateway_is_not_the_bottleneck(
    tmp_path: Path,
) -> None:
    if shutil.which("wrk") is None:
        # Required like nginx and PostgreSQL: a skip here would hide the load test in CI.
        pytest.fail("wrk is not installed: apt-get install wrk (see README)")
    proc = subprocess.run(
        [sys.executable, "-m", "services", "bench", "gateway", "--duration", "3",
         "--connections", "8", "--out-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stdout + proc.stderr
    [result] = tmp_path.glob("gateway-*.json")
    post, get = json.loads(result.read_text())["phases"]
    assert post["endpoint"] == "POST /orders"
    assert set(post["statuses"]) == {"201"}, post["statuses"]
    assert set(get["statuses"]) == {"200"}, get["statuses"]
    for phase in (post, get):
        assert phase["requests_per_second"] > 0
        assert 0 < phase["p50_ms"] <= phase["p99_ms"]
    assert 0 < post["gateway_cpu_ms_per_request"] < post["orchestration_cpu_ms_per_request"]
    assert "| POST /orders |" in next(tmp_path.glob("gateway-*.md")).read_text()
