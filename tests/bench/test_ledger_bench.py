"""`rtw bench ledger` runs both backends for real and writes its JSON and markdown."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_ledger_bench_measures_both_backends(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "services", "bench", "ledger", "--records", "40",
         "--concurrency", "4", "--out-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    [result] = tmp_path.glob("ledger-*.json")
    data = json.loads(result.read_text())
    for backend in ("sqlite", "postgresql"):
        figures = data[backend]
        assert 0 < figures["authorization_p50_ms"] <= figures["authorization_p99_ms"]
        assert 0 < figures["capture_p50_ms"] <= figures["capture_p99_ms"]
        assert figures["records_per_s_concurrent"] > 0
    assert "| capture_p50_ms |" in next(tmp_path.glob("ledger-*.md")).read_text()
