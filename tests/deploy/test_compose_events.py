"""The Compose stack carries order events: the gateway reads the workers' database once it
is migrated, and its webhooks go, signed, to the sample receiver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.webhooks.endpoints import parse_endpoints

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_the_gateway_reads_events_from_the_migrated_workers_database(
    compose: dict[str, Any],
) -> None:
    gateway = compose["services"]["gateway"]
    workers = compose["services"]["payments"]["environment"]
    assert gateway["environment"]["RTW_DATABASE_URL"] == workers["RTW_DATABASE_URL"]
    assert gateway["depends_on"]["rtw-migrate"] == {"condition": "service_completed_successfully"}


def test_webhooks_go_signed_to_the_sample_receiver(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    receiver = compose["services"]["webhook-receiver"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in gateway["volumes"]}
    endpoints_file = gateway["environment"]["RTW_WEBHOOK_ENDPOINTS_FILE"]
    (endpoint,) = parse_endpoints((ROOT / mounts[endpoints_file]).read_bytes())
    assert str(endpoint.url) == "http://webhook-receiver:9000/"
    assert endpoint.allow_private_network, "the Compose network is private: allowed on purpose"
    assert receiver["image"] == gateway["image"], "the same image, another command"
    command = receiver["command"]
    assert command[:2] == ["webhooks", "receive"]
    assert command[command.index("--port") + 1] == "9000"
    secret_path = command[command.index("--secret-file") + 1]
    receiver_mounts = {m.split(":")[1]: m.split(":")[0] for m in receiver["volumes"]}
    assert (ROOT / receiver_mounts[secret_path]).read_text().strip() == endpoint.secret
    assert "ports" not in receiver, "reached on the Compose network only"
    assert "/healthz" in " ".join(receiver["healthcheck"]["test"])
