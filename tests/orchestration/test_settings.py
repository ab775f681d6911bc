"""The orchestration worker's policy comes from RTW_* variables (read once, by the worker)."""

from __future__ import annotations

import pytest

from services.contracts import OrderPolicy
from services.orchestration import OrchestrationSettings


def test_defaults_match_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "RTW_APPROVAL_THRESHOLD_CENTS",
        "RTW_APPROVAL_TIMEOUT_SECONDS",
        "RTW_SIMULATED_CARRIER_AUTO_DELIVER",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = OrchestrationSettings()
    assert settings.order_policy() == OrderPolicy()
    assert settings.order_policy().approval_threshold_cents == 100_000
    assert settings.order_policy().approval_timeout_seconds == 24 * 3600
    assert settings.simulated_carrier_auto_deliver is True


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTW_APPROVAL_THRESHOLD_CENTS", "5000")
    monkeypatch.setenv("RTW_APPROVAL_TIMEOUT_SECONDS", "600")
    monkeypatch.setenv("RTW_SHIPMENT_PICKUP_SLA_SECONDS", "60")
    monkeypatch.setenv("RTW_SIMULATED_CARRIER_AUTO_DELIVER", "false")
    settings = OrchestrationSettings()
    policy = settings.order_policy()
    assert (policy.approval_threshold_cents, policy.approval_timeout_seconds) == (5000, 600)
    assert policy.shipment_pickup_sla_seconds == 60
    assert settings.simulated_carrier_auto_deliver is False


def test_invalid_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTW_APPROVAL_TIMEOUT_SECONDS", "0")
    with pytest.raises(ValueError, match="approval_timeout_seconds"):
        OrchestrationSettings()
