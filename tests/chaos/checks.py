"""The assertions every scale or chaos run must pass, with the evidence in the message."""

from __future__ import annotations

import json

from services.chaos.run import ChaosReport


def assert_books_balance(report: ChaosReport) -> None:
    """Every saga closed; money, stock and outbox exact; nothing failed that was not injected."""
    evidence = json.dumps(report.as_dict(), indent=1, default=str)[:4000]
    assert report.started > 0
    assert sum(report.by_state.values()) == report.started, evidence
    assert report.lost == [], evidence
    assert report.double_charges == [], evidence
    assert report.over_captured == [], evidence
    assert report.orphaned_charges == [], evidence
    assert report.cancelled_unsettled == [], evidence
    assert not report.oversold, evidence
    assert report.limited_reserved <= 5, evidence
    assert report.duplicate_outbox_rows == 0, evidence
    assert report.confirmations_missing == [], evidence
    assert report.unexpected_failures == [], evidence
    assert report.unexpected_exits == [], evidence
    assert report.ok, evidence
