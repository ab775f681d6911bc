"""The report of `rtw bench cost`: JSON and markdown under bench/results/, the happy order's
actions in `latest.json` (`ratios.actions_per_happy_order`), and what a million orders cost."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from services.bench.billable import label

#: Temporal Cloud's published pay-as-you-go Action price: USD per million Actions by monthly
#: volume (the first 5M, the next 5M, …; the Developer plan pays the first tier throughout).
#: Source: temporalio/documentation, docs/evaluate/cloud/pricing.mdx, "Action pricing"
#: (commit 0217b7180e97a893b2f723981b8a0b299b24ed3a), the page served at
#: https://docs.temporal.io/cloud/pricing. Prices change: check that page.
PRICE_TIERS: tuple[tuple[float, float], ...] = (
    (5e6, 50.0),
    (5e6, 45.0),
    (10e6, 40.0),
    (30e6, 35.0),
    (50e6, 30.0),
    (100e6, 25.0),
)
PRICE_SOURCE = "https://docs.temporal.io/cloud/pricing (Action pricing)"
#: Orders in the cost example.
MILLION = 1_000_000
#: The issue's target for a happy order, its start included.
HAPPY_TARGET = 11


def list_price(actions: float) -> float:
    """USD for `actions` in one month at the first tier's price ($50 per million)."""
    return actions / 1e6 * PRICE_TIERS[0][1]


def tiered_price(actions: float) -> float:
    """USD for `actions` in one month with the volume tiers (Business plan and above, before
    the plan's included Actions; above 200M the price is negotiated: the last tier is used)."""
    left, cost = actions, 0.0
    for size, per_million in PRICE_TIERS:
        used = min(left, size)
        cost += used / 1e6 * per_million
        left -= used
        if left <= 0:
            return cost
    return cost + left / 1e6 * PRICE_TIERS[-1][1]


def _types(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    found: dict[str, None] = {}
    for row in rows:
        found.update(dict.fromkeys(row["by_type"]))
    return sorted(found)


def _n(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:g}"


def million_orders(actions_per_order: float) -> dict[str, float]:
    """What a million orders a month cost in Actions alone."""
    actions = actions_per_order * MILLION
    return {
        "actions": actions,
        "usd_list_price": round(list_price(actions), 2),
        "usd_volume_tiers": round(tiered_price(actions), 2),
    }


def markdown(result: Mapping[str, Any]) -> str:
    """The human-readable report of one run."""
    meta, orders = result["meta"], result["orders"]
    lines = [
        "# rtw bench cost",
        "",
        f"- when: {meta['started_at']}; machine: {meta['machine']}; {meta['cpus']} CPUs; load "
        f"average {meta['loadavg_start']} at start, {meta['loadavg_end']} at the end",
        f"- command: `{meta['command']}`; server: {meta['server']}; sources byte-compiled: "
        f"{meta['bytecode']}"
        + (
            ""
            if meta.get("search_attributes", True)
            else "; without the order search attributes (the sagas publish no state)"
        ),
        "- billable actions as the server counts them (its `action` metric, namespace "
        "`default`), read once the counters have stopped moving before and after each step; "
        "each order's history counted too (`history`): they agree but for queries, heartbeats "
        "and rejected updates, which leave no event",
        "",
        "## Actions per order",
        "",
        "| order | what | actions | history, each order | ended as expected |",
        "|---|---|---|---|---|",
    ]
    rows = {**orders}
    if result.get("bare_same_shape"):
        rows["bare_same_shape"] = result["bare_same_shape"]
    for name, row in rows.items():
        lines.append(
            f"| {name} | {row['what']} | {_n(row['actions_per_order'])} "
            f"| {', '.join(map(str, row['history_actions']))}"
            f"{'' if row['history_matches_metric'] else ' (differs from the metric)'} "
            f"| {'yes' if row['ended_as_expected'] else 'no: ' + ', '.join(row['outcomes'])} |"
        )
    types = _types(list(rows.values()))
    lines += [
        "",
        "## By action type (per order)",
        "",
        "| action type | " + " | ".join(rows) + " |",
        "|---|" + "---|" * len(rows),
    ]
    for action_type in types:
        cells = [_n(row["by_type"].get(action_type, 0)) for row in rows.values()]
        lines.append(f"| `{action_type}` ({label(action_type)}) | " + " | ".join(cells) + " |")
    clients = result.get("clients") or {}
    if clients:
        lines += [
            "",
            "## Clients around an order (actions beyond the order's own)",
            "",
            "| client | actions |",
            "|---|---|",
        ]
        lines += [f"| {c['what']} | {c['extra_actions']} |" for c in clients.values()]
    starts = {
        **result.get("worker_start", {}),
        **{f"rollout: {k}": v for k, v in result.get("rollout", {}).items()},
    }
    if starts:
        lines += [
            "",
            "## Worker start and rollout (three queues, one Worker Deployment each)",
            "",
            "| step | actions | by type |",
            "|---|---|---|",
        ]
        for name, m in starts.items():
            by_type = ", ".join(f"{k} {v}" for k, v in m["by_type"].items()) or "-"
            lines.append(f"| {name} | {m['total']} | {by_type} |")
    draining = result.get("draining") or {}
    if draining.get("refreshes"):
        lines += [
            "",
            f"A build that is no longer current but still runs an open pinned order refreshes "
            f"its drainage status every 3 minutes (the server's default; "
            f"{draining['refresh_every_seconds']} s in this run): {draining['actions']} actions "
            f"in {draining['seconds']} s for {draining['refreshes']} refreshes, "
            f"{_n(draining['actions_per_refresh'])} per refresh.",
        ]
    happy = orders.get("happy")
    if happy:
        cost = million_orders(happy["actions_per_order"])
        lines += [
            "",
            "## A million happy orders a month",
            "",
            f"{_n(happy['actions_per_order'])} actions each: {cost['actions']:,.0f} actions, "
            f"USD {cost['usd_list_price']:,.2f} at $50 per million, USD "
            f"{cost['usd_volume_tiers']:,.2f} with the volume tiers (Business plan and above), "
            f"Actions only ({PRICE_SOURCE}).",
        ]
    return "\n".join(lines) + "\n"


def cost_summary(result: Mapping[str, Any], *, report: str) -> dict[str, Any]:
    """What `latest.json` keeps of a cost run (the bench run's results keep it too)."""
    orders = result["orders"]
    return {
        "report": report,
        "started_at": result["meta"]["started_at"],
        "actions_per_order": {k: v["actions_per_order"] for k, v in orders.items()},
        "worker_start": {k: v["total"] for k, v in result.get("worker_start", {}).items()},
        "rollout": {k: v["total"] for k, v in result.get("rollout", {}).items()},
    }


def update_latest(latest: Path, result: Mapping[str, Any], *, report: str) -> None:
    """Put the cost run's figures into `latest.json` (created when missing)."""
    data: dict[str, Any] = json.loads(latest.read_text(encoding="utf-8")) if latest.exists() else {}
    happy = result["orders"].get("happy")
    if happy is not None:
        data.setdefault("ratios", {})["actions_per_happy_order"] = happy["actions_per_order"]
    data["cost"] = cost_summary(result, report=report)
    latest.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def write_cost_results(result: Mapping[str, Any], *, out_dir: Path, stem: str) -> tuple[Path, Path]:
    """`<stem>.json` and `<stem>.md` under `out_dir`, and the figures in `latest.json`
    (only of a run with the order search attributes, as every rtw stack has them)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown(result), encoding="utf-8")
    if result["meta"].get("search_attributes", True):
        update_latest(out_dir / "latest.json", result, report=md_path.name)
    return json_path, md_path
