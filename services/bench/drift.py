"""Which ratios moved more than their own min-max spread since the run a new one replaces:
a move inside the spread is noise on these machines, one past it is worth a look."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from services.bench.results import RATIO_KEYS


def moved_since(previous: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """Each ratio's median then and now, now's spread, and whether it moved past it.

    Ratios measured once (no spread) or missing from either run are left out.
    """
    before = previous.get("summary", {}).get("ratio_spread", {})
    now = current.get("summary", {}).get("ratio_spread", {})
    rows = []
    for key in RATIO_KEYS:
        old, new = before.get(key), now.get(key)
        if not old or not new or new.get("n", 0) < 2:
            continue
        values = (old["median"], new["median"], new["min"], new["max"])
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
            continue
        spread = new["max"] - new["min"]
        rows.append(
            {
                "ratio": key,
                "previous": old["median"],
                "now": new["median"],
                "spread": round(spread, 3),
                "moved": abs(new["median"] - old["median"]) > spread,
            }
        )
    meta = previous.get("meta", {})
    return {
        "previous_report": meta.get("report"),
        "started_at": meta.get("started_at"),
        "ratios": rows,
    }


def drift_markdown(drift: Mapping[str, Any]) -> list[str]:
    """The report's section for `moved_since`'s answer."""
    lines = [
        "",
        f"## Since the previous run ({drift['previous_report']}, {drift['started_at']})",
        "",
        "A ratio is flagged when its median moved by more than this run's own min-max spread.",
        "",
        "| ratio | previous | now | this run's spread | |",
        "|---|---|---|---|---|",
    ]
    for row in drift["ratios"]:
        flag = "**moved**" if row["moved"] else "within the spread"
        lines.append(
            f"| {row['ratio']} | {row['previous']:g} | {row['now']:g} "
            f"| {row['spread']:g} | {flag} |"
        )
    return lines
