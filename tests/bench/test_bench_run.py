"""`rtw bench run` for real, tiny: a dev server, bare and rtw worker processes, the results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from services.bench.harness import runs_c64
from services.bench.profiles import PROFILES, Profile
from services.bench.results import FIGURE_KEYS, RATIO_KEYS
from services.bench.run import run_bench
from services.bench.scaling import payments_scaling
from services.bench.variants import (
    BARE_NAIVE,
    BARE_NOOP,
    BARE_SAME,
    PLATFORM,
    PLATFORM_ENCRYPTED,
    all_variants,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

TINY = Profile("tiny", blocks=1, warmup=2, c1=2, c16=4, c64=4, approvals=2, scaling=())


async def test_a_tiny_run_writes_ratios_figures_and_a_report(tmp_path: Path) -> None:
    json_path, md_path, _ = await run_bench(
        TINY,
        command="test",
        out_dir=tmp_path / "results",
        work_dir=tmp_path / "work",
        variants=[BARE_NOOP, BARE_SAME, PLATFORM, PLATFORM_ENCRYPTED],
        show_progress=False,
        keep_work_dir=True,
    )

    latest = json.loads((tmp_path / "results" / "latest.json").read_text())
    assert latest == json.loads(json_path.read_text())
    assert set(latest["ratios"]) == set(RATIO_KEYS)
    assert set(latest["figures"]) == set(FIGURE_KEYS)
    platform = latest["blocks"][0]["variants"]["platform"]
    noop = latest["blocks"][0]["variants"]["bare_noop"]
    assert platform["failures"] == noop["failures"] == 0
    assert platform["events_per_saga"] > noop["events_per_saga"] > 0
    assert set(platform["cpu_ms_per_saga"]) == {
        "server",
        "orchestration",
        "payments",
        "notifications",
        "driver",
    }
    assert platform["cpu_ms_per_saga"]["server"] > noop["cpu_ms_per_saga"]["server"] > 0
    assert 0 < latest["figures"]["cold_start_s_max"] < 60
    assert latest["figures"]["rss_mb_max"] > 10
    assert 0 < latest["figures"]["update_p50_ms"] <= latest["figures"]["update_p99_ms"]
    assert latest["ratios"]["platform_vs_bare_throughput_c16"] > 0
    # The bare mirror must have OrderSaga's shape; when the saga changes, update the mirror.
    assert latest["shape_check"]["matches"], json.dumps(latest["shape_check"], indent=1)
    assert "## Ratios" in md_path.read_text()

    # Encryption on: the same saga, every one completed (the driver's client and the workers
    # share the keys), and its payloads stored sealed where the plain variant's are readable.
    encrypted = latest["blocks"][0]["variants"]["platform_encrypted"]
    assert encrypted["failures"] == 0
    events = latest["blocks"][0]["event_types"]

    def commands(variant: str) -> dict[str, int]:  # workflow-task events batch by timing
        return {k: v for k, v in events[variant].items() if not k.startswith("WORKFLOW_TASK_")}

    assert commands("platform_encrypted") == commands("platform")
    assert latest["ratios"]["encryption_on_off_throughput"] > 0
    [block_dir] = (tmp_path / "work").glob("block-0-*")
    stored = b"".join(f.read_bytes() for f in block_dir.glob("temporal.db*"))
    assert b'"order_id":"b0-platform-0"' in stored
    assert b"b0-platform_encrypted-0" in stored  # its workflow ids
    assert b'"order_id":"b0-platform_encrypted-0"' not in stored


def test_the_full_profile_measures_encryption_off_and_on() -> None:
    full, quick = PROFILES["full"], PROFILES["quick"]
    chosen = all_variants(sandbox_off=full.sandbox_off, encrypted=full.encryption)
    assert PLATFORM in chosen
    assert PLATFORM_ENCRYPTED in chosen
    assert PLATFORM_ENCRYPTED not in all_variants(
        sandbox_off=quick.sandbox_off, encrypted=quick.encryption
    )
    assert "encryption_on_off_throughput" in RATIO_KEYS


async def test_payments_scaling_runs_replicas_on_shared_postgres(tmp_path: Path) -> None:
    result = await payments_scaling(counts=(1, 2), sagas=4, work_dir=tmp_path)
    rates = result["by_processes"]
    assert set(rates) == {"1", "2"}
    assert all(r["sagas_per_second"] > 0 and r["failures"] == 0 for r in rates.values())
    # One process makes one provider call at a time, two per saga: four sagas cannot end
    # sooner than that (a run that finds sagas already done measures nothing).
    assert rates["1"]["seconds"] >= 4 * 2 * result["provider_latency_ms"] / 1000


def test_the_command_and_profiles_are_registered() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "services", "bench", "run", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "--profile" in out.stdout


def test_the_quick_profile_runs_64_in_flight_only_for_the_saga_shapes() -> None:
    quick, full = PROFILES["quick"], PROFILES["full"]
    floors = [v for v in all_variants(sandbox_off=False, encrypted=False) if v.floor]
    assert {v.name for v in floors} == {"bare_noop", "bare_1_activity", "bare_4_activities"}
    assert not any(runs_c64(v, quick) for v in floors)
    assert all(runs_c64(v, full) for v in floors)
    for shaped in (BARE_NAIVE, BARE_SAME, PLATFORM):
        assert runs_c64(shaped, quick)
        assert runs_c64(shaped, full)
