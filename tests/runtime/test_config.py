"""Settings come from Temporal's and rtw's environment variables; secrets stay secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.contracts import TaskQueue
from services.orchestration.settings import OrchestrationSettings
from services.runtime.config import (
    LogFormat,
    Settings,
    TemporalSettings,
    describe_settings_error,
)
from services.runtime.connection import ConfigurationError, connect, tls_config
from services.runtime.database import postgres_conninfo


def test_defaults_need_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "RTW_QUEUE_PREFIX"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings()
    assert settings.temporal.address is None
    assert settings.temporal.namespace == "default"
    assert settings.queue_name(TaskQueue.PAYMENTS) == "payments"
    assert not settings.temporal.tls_enabled


def test_environment_is_read_with_temporal_and_rtw_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.example:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "orders")
    monkeypatch.setenv("RTW_QUEUE_PREFIX", "eu-")
    monkeypatch.setenv("RTW_LOG_FORMAT", "json")
    monkeypatch.setenv("RTW_GRACEFUL_SHUTDOWN_SECONDS", "45")
    monkeypatch.setenv("RTW_MAX_CONCURRENT_ACTIVITIES", "7")
    monkeypatch.setenv("RTW_DATA_DIR", str(tmp_path))

    settings = Settings()

    assert settings.temporal.address == "temporal.example:7233"
    assert settings.temporal.namespace == "orders"
    assert settings.queue_name(TaskQueue.ORCHESTRATION) == "eu-orchestration"
    assert settings.log_format is LogFormat.JSON
    assert settings.tuning.graceful_shutdown_seconds == 45
    assert settings.tuning.max_concurrent_activities == 7
    assert settings.data_dir == tmp_path
    assert not settings.database.shared, "no RTW_DATABASE_URL: the embedded SQLite file"


def test_database_url_selects_the_shared_postgresql_and_stays_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RTW_DATABASE_URL", "postgresql://rtw:hunter2@db:5432/rtw")
    password = tmp_path / "password"
    password.write_text("from-a-secret\n")
    monkeypatch.setenv("RTW_DATABASE_PASSWORD_FILE", str(password))

    settings = Settings()

    assert settings.database.shared
    assert "hunter2" not in repr(settings)
    conninfo = postgres_conninfo(settings.database)
    assert "password=from-a-secret" in conninfo, "the file wins over the URL's password"
    assert "host=db" in conninfo


def test_a_database_url_that_is_not_postgresql_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTW_DATABASE_URL", "mysql://db/rtw")
    with pytest.raises(ValidationError, match="must start with postgresql://"):
        Settings()


def test_api_key_is_read_from_file_and_never_shown(tmp_path: Path) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_text("s3cr3t-key\n")
    settings = TemporalSettings(api_key_file=key_file)

    assert settings.resolved_api_key() == "s3cr3t-key"
    assert settings.tls_enabled, "an API key implies TLS"
    inline = TemporalSettings(api_key="inline-secret")
    assert "inline-secret" not in repr(inline)
    assert "inline-secret" not in str(inline)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TEMPORAL_TLS_CLIENT_CERT_PATH": "/c.pem"}, "go together"),
        ({"RTW_MAX_CONCURRENT_ACTIVITIES": "0"}, "max_concurrent_activities"),
        ({"RTW_QUEUE_PREFIX": "bad prefix!"}, "queue_prefix"),
        ({"RTW_LOG_FORMAT": "xml"}, "log_format"),
    ],
)
def test_bad_settings_fail_with_a_message_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match=message):
        Settings()


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"TEMPORAL_TLS_CLIENT_CERT_PATH": "/c.pem"},
            "TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH go together",
        ),
        (
            {"RTW_MAX_CONCURRENT_ACTIVITIES": "0"},
            "RTW_MAX_CONCURRENT_ACTIVITIES: Input should be greater than 0",
        ),
        ({"RTW_LOG_FORMAT": "xml"}, "RTW_LOG_FORMAT: Input should be 'json' or 'console'"),
        (
            {"RTW_DATABASE_URL": "mysql://u:pw@h/db"},
            "RTW_DATABASE_URL: must start with postgresql://",
        ),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"}, "OTEL_EXPORTER_OTLP_PROTOCOL: "),
    ],
)
def test_settings_errors_name_the_variable_and_hide_the_values(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], line: str
) -> None:
    monkeypatch.setenv("TEMPORAL_API_KEY", "sekret-123")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError) as caught:
        Settings()

    [described] = describe_settings_error(caught.value)
    assert described.startswith(line), described
    for value in ("sekret-123", *(v for v in env.values() if len(v) > 3)):
        assert value not in str(caught.value)
        assert value not in described


def test_orchestration_settings_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTW_APPROVAL_THRESHOLD_CENTS", "-12345")
    with pytest.raises(ValidationError) as caught:
        OrchestrationSettings()

    assert describe_settings_error(caught.value, OrchestrationSettings) == [
        "RTW_APPROVAL_THRESHOLD_CENTS: Input should be greater than or equal to 0"
    ]
    assert "-12345" not in str(caught.value)


def test_tls_files_are_read_into_the_sdk_config(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_bytes(b"CA")
    (tmp_path / "tls.crt").write_bytes(b"CERT")
    (tmp_path / "tls.key").write_bytes(b"KEY")
    tls = tls_config(
        TemporalSettings(
            tls_server_ca_cert_path=tmp_path / "ca.pem",
            tls_client_cert_path=tmp_path / "tls.crt",
            tls_client_key_path=tmp_path / "tls.key",
            tls_server_name="temporal.internal",
        )
    )
    assert not isinstance(tls, bool)
    assert (tls.server_root_ca_cert, tls.client_cert, tls.client_private_key, tls.domain) == (
        b"CA",
        b"CERT",
        b"KEY",
        "temporal.internal",
    )


async def test_missing_secret_file_is_a_clear_configuration_error(tmp_path: Path) -> None:
    settings = TemporalSettings(address="localhost:1", api_key_file=tmp_path / "nope")
    with pytest.raises(ConfigurationError, match="TEMPORAL_API_KEY_FILE"):
        await connect(settings, retry_for_seconds=5)


def test_empty_temporal_address_means_the_embedded_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "")
    assert Settings().temporal.address is None


PROFILES = """
[profile.default]
address = "file-host:7233"
namespace = "file-ns"

[profile.staging]
address = "staging.example:7233"
namespace = "staging"
api_key = "from-the-profile"
[profile.staging.tls]
server_name = "staging.example"
server_ca_cert_path = "/etc/ca.pem"
client_cert_path = "/etc/client.pem"
client_key_path = "/etc/client.key"

[profile.inline]
address = "x:7233"
[profile.inline.tls]
client_cert_data = "-----BEGIN CERTIFICATE-----"
client_key_data = "-----BEGIN PRIVATE KEY-----"
"""


def _profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "temporal.toml"
    path.write_text(PROFILES, encoding="utf-8")
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(path))
    return path


def test_the_temporal_cli_config_file_is_read_through_the_sdk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _profiles(tmp_path, monkeypatch)
    default = TemporalSettings()
    assert (default.address, default.namespace) == ("file-host:7233", "file-ns")
    assert not default.tls_enabled

    monkeypatch.setenv("TEMPORAL_PROFILE", "staging")
    staging = TemporalSettings()
    assert staging.address == "staging.example:7233"
    assert staging.resolved_api_key() == "from-the-profile"
    assert staging.tls_enabled
    assert staging.tls_server_name == "staging.example"
    assert staging.tls_client_cert_path == Path("/etc/client.pem")
    assert staging.tls_client_key_path == Path("/etc/client.key")
    assert staging.tls_server_ca_cert_path == Path("/etc/ca.pem")


def test_environment_variables_win_over_the_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _profiles(tmp_path, monkeypatch)
    monkeypatch.setenv("TEMPORAL_PROFILE", "staging")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "from-env")
    key_file = tmp_path / "key"
    key_file.write_text("from-the-file\n", encoding="utf-8")
    monkeypatch.setenv("TEMPORAL_API_KEY_FILE", str(key_file))
    settings = TemporalSettings()
    assert settings.namespace == "from-env"
    assert settings.address == "staging.example:7233"
    assert settings.api_key is None
    assert settings.resolved_api_key() == "from-the-file"


@pytest.mark.parametrize(
    ("profile", "problem"),
    [("nope", "cannot load profile 'nope'"), ("inline", "use client_cert_path")],
)
def test_a_bad_profile_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, profile: str, problem: str
) -> None:
    _profiles(tmp_path, monkeypatch)
    monkeypatch.setenv("TEMPORAL_PROFILE", profile)
    with pytest.raises(ValidationError) as caught:
        Settings()
    [line] = describe_settings_error(caught.value)
    assert "TEMPORAL_PROFILE" in line
    assert problem in line
    assert "BEGIN" not in line
