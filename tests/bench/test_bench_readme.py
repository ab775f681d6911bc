"""The README's performance table comes from latest.json, with the machine it came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.bench.readme import END, START, update_readme
from services.bench.results import COST_KEYS, FIGURE_KEYS, RATIO_KEYS, carry_cost


def latest() -> dict[str, object]:
    ratios = {key: 1.0 for key in RATIO_KEYS} | {"platform_vs_bare_p50_c1": 1.3}
    figures = {key: 5.0 for key in FIGURE_KEYS} | {"update_p99_ms": None}
    meta = {
        "command": "rtw bench run --profile quick",
        "machine": "Test CPU, Linux x86_64",
        "cpus": 2,
        "loadavg_start": "0.10",
        "started_at": "2026-11-27T03:00:00+00:00",
        "profile": "quick",
        "report": "bench-quick-x.md",
    }
    spread = {"platform_vs_bare_p50_c1": {"median": 1.3, "min": 1.1, "max": 1.6, "n": 3}}
    return {"ratios": ratios, "figures": figures, "meta": meta, "summary": {"ratio_spread": spread}}


def test_the_table_is_replaced_between_its_markers(tmp_path: Path) -> None:
    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    (results / "latest.json").write_text(json.dumps(latest()))
    readme = tmp_path / "README.md"
    readme.write_text(f"# rtw\n\n{START}\nold table\n{END}\n\nafter\n")

    update_readme(readme, results / "latest.json")

    text = readme.read_text()
    assert "old table" not in text
    assert text.startswith("# rtw\n\n")
    assert text.endswith("\n\nafter\n")
    assert "Test CPU, Linux x86_64 (2 CPUs" in text
    assert "[full report](bench/results/bench-quick-x.md)" in text
    assert (
        "| platform / bare same shape: p50 latency at concurrency 1 "
        "| 1.3 | 1.1-1.6 | <= 1.05 | **missed** |" in text
    )
    assert "| `approve` round trip p99, idle (ms) | not measured |  | <= 30 |  |" in text
    assert text.count("\n| ") == len(RATIO_KEYS) + len(COST_KEYS) + len(FIGURE_KEYS) + 1


def test_a_readme_without_markers_is_refused(tmp_path: Path) -> None:
    (tmp_path / "latest.json").write_text(json.dumps(latest()))
    readme = tmp_path / "README.md"
    readme.write_text("# rtw\n")
    with pytest.raises(ValueError, match="markers"):
        update_readme(readme, tmp_path / "latest.json")


def test_the_actions_of_a_happy_order_come_from_the_cost_run(tmp_path: Path) -> None:
    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    data = latest()
    data["ratios"] = {**data["ratios"], "actions_per_happy_order": 16.0}  # type: ignore[dict-item]
    data["cost"] = {"report": "cost-x.md", "started_at": "2026-12-08T01:00:00+00:00"}
    (results / "latest.json").write_text(json.dumps(data))
    readme = tmp_path / "README.md"
    readme.write_text(f"{START}\n{END}\n")

    update_readme(readme, results / "latest.json")

    text = readme.read_text()
    assert (
        "| billable actions per happy order (`rtw bench cost`) | 16 |  | <= 11 | **missed** |"
        in text
    )
    assert "`rtw bench cost`, 2026-12-08T01:00:00+00:00 ([report](bench/results/cost-x.md))" in text


def test_a_bench_run_keeps_the_cost_figures_latest_json_had(tmp_path: Path) -> None:
    cost = {"report": "cost-x.md", "started_at": "t", "actions_per_order": {"happy": 16.0}}
    previous = tmp_path / "latest.json"
    previous.write_text(
        json.dumps({"ratios": {"actions_per_happy_order": 16.0, "old": 1.0}, "cost": cost})
    )
    run = latest()

    kept = carry_cost(run, previous)

    assert kept["cost"] == cost
    assert kept["ratios"] == {**run["ratios"], "actions_per_happy_order": 16.0}  # type: ignore[dict-item]
    assert carry_cost(run, tmp_path / "missing.json") == run
