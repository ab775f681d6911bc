"""Each order type costs exactly the billable actions the recorded `rtw bench cost` run
counted (bench/results/latest.json names it), by action type, on a fresh dev server: a change
that adds an action to an order (or saves one) fails here with the breakdown. When the change
is meant, run `rtw bench cost` and commit its results (and the docs' figures) with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.bench.billable import label
from services.bench.cost import CostConfig, run_cost

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def recorded_run() -> dict[str, Any]:
    """The `rtw bench cost` run latest.json points at."""
    latest = json.loads((RESULTS / "latest.json").read_text(encoding="utf-8"))
    report = Path(latest["cost"]["report"])
    run: dict[str, Any] = json.loads(
        (RESULTS / report.with_suffix(".json")).read_text(encoding="utf-8")
    )
    return run


def breakdown(name: str, recorded: dict[str, float], now: dict[str, float]) -> str:
    """One order type's action types, recorded vs now, where they differ."""
    rows = [
        f"    {action_type} ({label(action_type)}): recorded {recorded.get(action_type, 0):g}, "
        f"now {now.get(action_type, 0):g}"
        for action_type in sorted(set(recorded) | set(now))
        if recorded.get(action_type, 0) != now.get(action_type, 0)
    ]
    return (
        f"  {name}: recorded {sum(recorded.values()):g}, now {sum(now.values()):g}\n"
        + "\n".join(rows)
    )


async def test_every_order_type_costs_the_recorded_actions(tmp_path: Path) -> None:
    recorded = recorded_run()
    config = CostConfig(
        repeat=1,
        order_types=tuple(recorded["orders"]),
        worker_start=False,
        clients=("wait_cli",),
        bare=False,
        work_dir=tmp_path,
    )

    now = await run_cost(config)

    for name, row in now["orders"].items():
        assert row["ended_as_expected"], (name, row["outcomes"])
        # the server's count and the history's agree: nothing else ran meanwhile
        assert row["history_matches_metric"], (name, row)
    differ = [
        breakdown(name, row["by_type"], now["orders"][name]["by_type"])
        for name, row in recorded["orders"].items()
        if row["by_type"] != now["orders"][name]["by_type"]
    ]
    assert not differ, (
        f"billable actions per order changed since {recorded['meta']['started_at']} "
        "(run `rtw bench cost` and commit its results if the change is meant):\n"
        + "\n".join(differ)
    )
    # A shop's script waiting with `rtw order start --wait` adds nothing to the order.
    assert now["clients"]["wait_cli"]["extra_actions"] == 0, now["clients"]["wait_cli"]
