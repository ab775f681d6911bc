"""A bench run says which ratios moved past their own min-max spread since the run it
replaces, in its report, in latest.json and in the README's table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.bench.drift import drift_markdown, moved_since
from services.bench.readme import render
from services.bench.results import RATIO_KEYS


def run(spreads: dict[str, tuple[float, float, float, int]], started: str) -> dict[str, Any]:
    return {
        "meta": {"report": f"bench-{started}.md", "started_at": started},
        "summary": {
            "ratio_spread": {
                key: {"median": med, "min": lo, "max": hi, "n": n}
                for key, (med, lo, hi, n) in spreads.items()
            }
        },
    }


def test_a_move_past_the_spread_is_flagged_and_one_inside_it_is_not() -> None:
    previous = run(
        {
            "platform_vs_bare_throughput_c16": (1.0, 0.9, 1.1, 5),
            "platform_vs_bare_worker_cpu": (1.10, 1.05, 1.15, 5),
            "payments_scaling_2": (1.9, 1.9, 1.9, 1),
        },
        "then",
    )
    current = run(
        {
            "platform_vs_bare_throughput_c16": (0.8, 0.75, 0.85, 5),  # moved 0.2, spread 0.1
            "platform_vs_bare_worker_cpu": (1.12, 1.0, 1.2, 5),  # moved 0.02, spread 0.2
            "payments_scaling_2": (1.5, 1.5, 1.5, 1),  # one sample: no spread to judge by
        },
        "now",
    )

    drift = moved_since(previous, current)

    assert drift["previous_report"] == "bench-then.md"
    rows = {row["ratio"]: row for row in drift["ratios"]}
    assert set(rows) == {"platform_vs_bare_throughput_c16", "platform_vs_bare_worker_cpu"}
    assert rows["platform_vs_bare_throughput_c16"]["moved"] is True
    assert rows["platform_vs_bare_worker_cpu"]["moved"] is False
    text = "\n".join(drift_markdown(drift))
    assert "| platform_vs_bare_throughput_c16 | 1 | 0.8 | 0.1 | **moved** |" in text


def test_the_readme_names_what_moved(tmp_path: Path) -> None:
    previous = run({"platform_vs_bare_throughput_c16": (1.0, 0.9, 1.1, 5)}, "then")
    current = run({"platform_vs_bare_throughput_c16": (0.8, 0.75, 0.85, 5)}, "now")
    latest = current | {
        "meta": {
            "command": "rtw bench run",
            "machine": "m",
            "cpus": 2,
            "loadavg_start": "0.1",
            "started_at": "now",
        },
        "ratios": {key: 1.0 for key in RATIO_KEYS},
        "figures": {},
        "since_previous": moved_since(previous, current),
    }
    table = render(json.loads(json.dumps(latest)), source="r.md")
    assert "platform_vs_bare_throughput_c16 1 → 0.8 moved past" in table
