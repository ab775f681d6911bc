"""The arithmetic of `rtw bench run`: percentiles, spreads, paired ratios, the result keys."""

from __future__ import annotations

import math
from typing import Any

from services.bench.calibration import Calibrator, calibration_loop
from services.bench.results import FIGURE_KEYS, RATIO_KEYS, markdown, meets, shape_check, summarize
from services.bench.stats import flatten, percentile, spread


def test_percentile_is_nearest_rank() -> None:
    samples = [float(x) for x in range(1, 101)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 95) == 95.0
    assert percentile(samples, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) == 0.0


def test_spread_is_median_min_max_ignoring_missing_values() -> None:
    assert spread([3.0, 1.0, 2.0, math.nan]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert spread([])["n"] == 0


def test_flatten_keeps_nested_numbers_only() -> None:
    assert flatten({"a": 1, "b": {"c": 2.5, "d": "x"}, "e": True}) == {"a": 1.0, "b.c": 2.5}


def block(i: int, platform_rate: float, bare_rate: float) -> dict[str, Any]:
    figures = {
        "throughput_c16": platform_rate,
        "p50_c1_ms": 100.0,
        "worker_cpu_norm_per_saga": 10.0,
        "cpu_norm_per_saga": {"server": 30.0},
        "events_per_saga": 68,
        "cold_start_s_max": 0.9,
        "rss_mb_max": 120.0,
    }
    bare = {**figures, "throughput_c16": bare_rate, "p50_c1_ms": 200.0}
    naive = {**figures, "cpu_norm_per_saga": {"server": 60.0}}
    return {
        "block": i,
        "variants": {
            "platform": figures,
            "bare_same_shape": bare,
            "bare_naive_shape": naive,
            "platform_tracing": {**figures, "throughput_c16": platform_rate * 0.9},
        },
        "event_types": {"platform": {"A": 1}, "bare_same_shape": {"A": 1}},
        "approve_ms": [float(10 * i + k) for k in range(10)],
    }


def test_ratios_are_paired_within_blocks_and_summarized_as_medians() -> None:
    # Block 0 is slow for both variants, block 2 fast for both: pairing keeps the ratio at 2.
    blocks = [block(0, 4.0, 2.0), block(1, 8.0, 4.0), block(2, 20.0, 10.0)]
    scaling = {
        "by_processes": {
            "1": {"sagas_per_second": 1.0},
            "2": {"sagas_per_second": 1.9},
            "4": {"sagas_per_second": 3.2},
        }
    }
    summary = summarize(blocks, scaling)

    assert set(summary["ratios"]) == set(RATIO_KEYS)
    assert set(summary["figures"]) == set(FIGURE_KEYS)
    assert summary["ratio_spread"]["platform_vs_bare_throughput_c16"] == {
        "median": 2.0,
        "min": 2.0,
        "max": 2.0,
        "n": 3,
    }
    assert summary["ratios"]["platform_vs_bare_p50_c1"] == 0.5
    assert summary["ratios"]["optimized_vs_naive_server_cpu"] == 0.5
    assert summary["ratios"]["tracing_on_off_throughput"] == 0.9
    assert summary["ratios"]["payments_scaling_2"] == 1.9
    assert summary["ratios"]["payments_scaling_4"] == 3.2
    assert summary["figures"]["events_per_saga"] == 68
    assert summary["figures"]["update_p50_ms"] == 14.0  # pooled over blocks: 0..9, 10..19, 20..29
    assert summary["figures"]["update_p99_ms"] == 29.0


def test_missing_variants_give_no_ratio_rather_than_a_wrong_one() -> None:
    lone = {"block": 0, "variants": {"platform": {"throughput_c16": 5.0}}, "event_types": {}}
    summary = summarize([lone], None)
    assert math.isnan(summary["ratios"]["platform_vs_bare_throughput_c16"])
    assert math.isnan(summary["ratios"]["payments_scaling_2"])
    assert math.isnan(summary["figures"]["update_p50_ms"])


def test_targets_are_judged_by_direction() -> None:
    assert meets("platform_vs_bare_throughput_c16", 0.96) is True
    assert meets("platform_vs_bare_throughput_c16", 0.94) is False
    assert meets("actions_per_happy_order", 11) is True
    assert meets("actions_per_happy_order", 12) is False
    assert meets("update_p99_ms", 31.0) is False
    assert meets("events_per_saga", 60) is None
    assert meets("rss_mb_max", math.nan) is None


def test_shape_check_and_markdown_name_a_differing_mirror() -> None:
    blocks = [block(0, 4.0, 2.0)]
    blocks[0]["event_types"]["bare_same_shape"] = {"A": 2}
    check = shape_check(blocks)
    assert check["matches"] is False
    result = {
        "meta": {
            "profile": "quick",
            "started_at": "now",
            "machine": "m",
            "cpus": 2,
            "loadavg_start": "1",
            "command": "rtw bench run",
            "blocks": 1,
            "bytecode": "yes",
        },
        "summary": summarize(blocks, None),
        "shape_check": check,
        "scaling": None,
    }
    text = markdown(result)
    assert "DIFFERS: update services/bench/bare_same_shape.py" in text
    assert "| platform_vs_bare_throughput_c16 | 2 | 2-2 | >= 0.95: met |" in text


def test_calibration_loop_takes_cpu_and_is_sampled_during_a_phase() -> None:
    assert calibration_loop() > 0
    with Calibrator() as calibrator:
        sum(i * i for i in range(200_000))
    assert calibrator.samples
    assert calibrator.loop_ms > 0
    assert calibrator.cpu_seconds > 0
