"""docker-compose.yml is valid Compose, pinned, health-ordered and wired like the chart."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from services.contracts import TaskQueue

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = ROOT / "deploy" / "compose" / "compose-spec.json"
ENV_FILE = ROOT / ".env"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def env_file() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in ENV_FILE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    return {key: value for key, value in pairs}


def test_compose_file_matches_the_compose_spec(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator(schema).validate(compose)


def test_every_image_is_pinned_in_dot_env(compose: dict[str, Any]) -> None:
    pinned = env_file()
    for name, service in compose["services"].items():
        image = service["image"]
        match = re.fullmatch(r"\$\{(\w+)\}", image)
        assert match, f"{name}: image must come from .env, got {image!r}"
        value = pinned[match.group(1)]
        assert ":" in value, f"{name}: {value} has no tag"
        assert not value.endswith(":latest"), f"{name}: {value} is not pinned"


def test_one_worker_service_per_queue_from_one_image(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for queue in TaskQueue:
        worker = services[queue.value]
        assert worker["command"] == ["worker", queue.value]
        assert worker["image"] == "${RTW_IMAGE}"
        assert worker["environment"]["OTEL_SERVICE_NAME"] == f"rtw-{queue.value}"
        assert worker["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4317"
        assert "/readyz" in " ".join(worker["healthcheck"]["test"])
        # Not just "Temporal is up": its namespace must exist before a worker polls it.
        namespace = worker["depends_on"]["temporal-create-namespace"]
        assert namespace["condition"] == "service_completed_successfully"


CODEC_MOUNT = "codec:/etc/rtw/codec:ro"
DATABASE_URL = re.compile(r"postgresql://[^@/]+@postgresql:5432/rtw")


def test_workers_share_the_rtw_database_after_migrating(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in [queue.value for queue in TaskQueue] + ["rtw-cli"]:
        service = services[name]
        assert DATABASE_URL.fullmatch(service["environment"]["RTW_DATABASE_URL"]), name
        migrate = service["depends_on"]["rtw-migrate"]
        assert migrate["condition"] == "service_completed_successfully", name
        # State lives in PostgreSQL now: no per-worker data volume (nor the ledger mount);
        # the only mount is the codec keys, read-only.
        assert service.get("volumes", []) == [CODEC_MOUNT], name
    assert set(compose["volumes"]) == {"postgresql-data", "codec"}


def test_rtw_migrate_applies_the_schema_once_the_database_exists(compose: dict[str, Any]) -> None:
    services = compose["services"]
    migrate = services["rtw-migrate"]
    assert migrate["command"] == ["db", "migrate"]  # the image's entrypoint is `rtw`
    assert migrate["image"] == "${RTW_IMAGE}"
    assert (
        migrate["environment"]["RTW_DATABASE_URL"]
        == (services["payments"]["environment"]["RTW_DATABASE_URL"])
    )
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {
        "rtw-db-create": {"condition": "service_completed_successfully"}
    }
    create = services["rtw-db-create"]
    assert create["image"] == services["postgresql"]["image"]  # its psql/createdb, no init script
    assert create["depends_on"] == {"postgresql": {"condition": "service_healthy"}}
    script = create["command"][-1]
    assert "createdb rtw" in script
    assert "datname = 'rtw'" in script  # only when missing: reruns succeed
    env = create["environment"]
    postgres_env = services["postgresql"]["environment"]
    assert (env["PGUSER"], env["PGPASSWORD"]) == (
        postgres_env["POSTGRES_USER"],
        postgres_env["POSTGRES_PASSWORD"],
    )
    # Temporal keeps the image's default database; ours is a separate one.
    assert "POSTGRES_DB" not in postgres_env


def test_start_up_is_ordered_by_health_not_by_guesswork(compose: dict[str, Any]) -> None:
    """PostgreSQL healthy → Temporal's schema job done → server healthy → namespace job done
    → workers; the schema and namespace come from Temporal's admin-tools, not auto-setup."""
    services = compose["services"]
    schema = services["temporal-schema"]
    assert schema["depends_on"]["postgresql"]["condition"] == "service_healthy"
    assert schema["image"] == "${TEMPORAL_ADMINTOOLS_IMAGE}"
    script = schema["command"][-1]
    for step in ("create", "setup-schema -v 0.0", "update-schema -d"):
        assert step in script
    assert "setup temporal temporal" in script
    assert "setup temporal_visibility visibility" in script
    temporal = services["temporal"]
    assert temporal["depends_on"]["temporal-schema"]["condition"] == (
        "service_completed_successfully"
    )
    namespace = services["temporal-create-namespace"]
    assert namespace["depends_on"]["temporal"]["condition"] == "service_healthy"
    assert "namespace create -n default" in namespace["command"][-1]
    assert "namespace describe -n default" in namespace["command"][-1], "reruns succeed"
    for name in ("postgresql", "temporal"):
        assert "healthcheck" in services[name], name


def test_no_deprecated_images() -> None:
    images = env_file()
    assert images["TEMPORAL_IMAGE"].startswith("temporalio/server:")
    assert images["TEMPORAL_ADMINTOOLS_IMAGE"].startswith("temporalio/admin-tools:")
    assert images["JAEGER_IMAGE"].startswith("jaegertracing/jaeger:2."), "Jaeger v2"
    assert not any("auto-setup" in v or "all-in-one" in v for v in images.values())


def test_jaeger_v2_takes_otlp_from_the_workers(compose: dict[str, Any]) -> None:
    jaeger = compose["services"]["jaeger"]
    assert jaeger["environment"]["JAEGER_LISTEN_HOST"] == "0.0.0.0", "v2 binds to localhost"
    assert "127.0.0.1:4317:4317" in jaeger["ports"]


def test_every_published_port_is_bound_to_loopback(compose: dict[str, Any]) -> None:
    published = [
        (name, port) for name, s in compose["services"].items() for port in s.get("ports", [])
    ]
    assert published
    for name, port in published:
        assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


@pytest.mark.parametrize(
    "name",
    [
        *(q.value for q in TaskQueue),
        "rtw-migrate",
        "rtw-cli",
        "codec-server",
        "rtw-codec-init",
        "gateway",
    ],
)
def test_rtw_containers_run_hardened_as_in_the_chart(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    assert service["user"] == "10001:10001"
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]
    assert service["tmpfs"] == ["/tmp"]
    if name not in {"codec-server", "rtw-codec-init"}:  # they keep no data
        assert service["environment"]["RTW_DATA_DIR"].startswith("/tmp/")


def test_infra_profile_is_temporal_ui_jaeger_and_postgresql_only(compose: dict[str, Any]) -> None:
    """`docker compose --profile infra up -d`, then workers on the host with live code."""
    infra = {n for n, s in compose["services"].items() if "infra" in s.get("profiles", [])}
    assert infra == {
        "postgresql",
        "temporal-schema",
        "temporal",
        "temporal-create-namespace",
        "temporal-ui",
        "jaeger",
        "rtw-db-create",
    }
    unprofiled = [n for n, s in compose["services"].items() if not s.get("profiles")]
    assert unprofiled == [], "every service belongs to a profile, so `--profile infra` is exact"
    full = {n for n, s in compose["services"].items() if "full" in s.get("profiles", [])}
    assert full >= infra | {q.value for q in TaskQueue} | {"rtw-migrate"}
    assert env_file()["COMPOSE_PROFILES"] == "full", "plain `docker compose up` is the full stack"
    ports = {p for s in compose["services"].values() for p in s.get("ports", [])}
    for needed in ("127.0.0.1:7233:7233", "127.0.0.1:5432:5432", "127.0.0.1:4317:4317"):
        assert needed in ports, f"host workers need {needed}"


def test_workers_get_more_stop_time_than_their_drain(compose: dict[str, Any]) -> None:
    for queue in TaskQueue:
        worker = compose["services"][queue.value]
        drain = float(worker["environment"]["RTW_GRACEFUL_SHUTDOWN_SECONDS"])
        grace = float(worker["stop_grace_period"].removesuffix("s"))
        assert grace > drain, f"{queue}: stop_grace_period must exceed the graceful drain"


def test_mounted_support_files_exist(compose: dict[str, Any]) -> None:
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source


def test_grafana_loads_the_shipped_dashboard(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in grafana["volumes"]}
    assert mounts["./deploy/grafana"] == "/var/lib/grafana/dashboards/rtw"
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/rtw.yaml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/rtw"
    dashboard = json.loads((ROOT / "deploy/grafana/rtw-workers.json").read_text())
    assert dashboard["panels"], "the dashboard must have panels"


def test_gateway_is_published_with_its_secrets_from_files(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    assert gateway["image"] == "${RTW_IMAGE}"
    assert gateway["command"] == ["gateway", "--port", "8000"]
    assert "127.0.0.1:8000:8000" in gateway["ports"]
    env = gateway["environment"]
    assert env["OTEL_SERVICE_NAME"] == "rtw-gateway"
    assert env["RTW_GATEWAY_TOKENS_FILE"] == "/run/secrets/rtw-gateway-tokens"
    assert env["RTW_WEBHOOK_SECRET_FILE"] == "/run/secrets/rtw-webhook-secret"
    assert set(gateway["secrets"]) == set(compose["secrets"])
    for secret in compose["secrets"].values():
        assert env_file()[secret["environment"]], "the local stack's secret values live in .env"
    assert "/readyz" in " ".join(gateway["healthcheck"]["test"])
    namespace = gateway["depends_on"]["temporal-create-namespace"]
    assert namespace["condition"] == "service_completed_successfully"


def test_namespace_job_registers_the_order_search_attributes(compose: dict[str, Any]) -> None:
    script = compose["services"]["temporal-create-namespace"]["command"][-1]
    assert "for name in RtwOrderState RtwCustomerId RtwIdempotencyKey" in script
    assert "search-attribute create -n default" in script
    assert "--type Keyword" in script


def test_payloads_are_encrypted_and_the_ui_decodes_through_the_codec_server(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name in [queue.value for queue in TaskQueue] + ["rtw-cli", "gateway"]:
        assert services[name]["environment"]["RTW_CODEC_KEYS_FILE"] == "/etc/rtw/codec/keys.json"
    for name in [queue.value for queue in TaskQueue] + ["codec-server", "gateway"]:
        init = services[name]["depends_on"]["rtw-codec-init"]
        assert init["condition"] == "service_completed_successfully", name
    server = services["codec-server"]
    assert server["command"] == ["codec-server"]
    assert server["environment"]["RTW_CODEC_SERVER_TOKEN_FILE"] == "/etc/rtw/codec/tokens"
    assert server["environment"]["RTW_CODEC_SERVER_CORS_ORIGINS"] == "http://localhost:8080"
    assert server["volumes"] == [CODEC_MOUNT]
    ui = services["temporal-ui"]["environment"]
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == "http://localhost:8888"
    assert server["ports"] == ["127.0.0.1:8888:8888"]
    # keys and token are made in the volume at first start (only if missing), never kept in
    # the repository; the image has no shell, so it is one rtw command
    init = services["rtw-codec-init"]
    assert init["command"][:2] == ["codec-init", "/var/lib/rtw"]
    assert init["volumes"] == ["codec:/var/lib/rtw"]
