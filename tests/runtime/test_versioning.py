"""Worker Versioning settings: deployment names, build ids, and the off switch."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.contracts import TaskQueue
from services.runtime.config import Settings, describe_settings_error
from services.runtime.versioning import (
    DeploymentNameError,
    VersioningSettings,
    deployment_config,
    deployment_name,
    source_build_id,
)
from tests.integration.helpers import rtw


def test_deployments_are_named_after_the_stem_the_prefix_and_the_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain = VersioningSettings()
    assert deployment_name(plain, TaskQueue.PAYMENTS, prefix="") == "rtw-payments"
    assert deployment_name(plain, TaskQueue.PAYMENTS, prefix="eu.") == "rtw-eu-payments"

    monkeypatch.setenv("RTW_DEPLOYMENT_NAME", "shop")
    named = VersioningSettings()
    assert deployment_name(named, TaskQueue.ORCHESTRATION, prefix="") == "shop-orchestration"


def test_the_build_id_comes_from_rtw_build_id_or_the_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert VersioningSettings().resolved_build_id == source_build_id()
    monkeypatch.setenv("RTW_BUILD_ID", "1.4.2")
    config = deployment_config(VersioningSettings(), TaskQueue.ORCHESTRATION, prefix="t-")
    assert config is not None
    assert config.use_worker_versioning
    assert config.version.deployment_name == "rtw-t-orchestration"
    assert config.version.build_id == "1.4.2"


def test_versioning_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTW_WORKER_VERSIONING", "false")
    assert deployment_config(VersioningSettings(), TaskQueue.PAYMENTS, prefix="") is None


def test_the_source_hash_changes_with_the_code_and_only_with_it(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    module = tmp_path / "pkg" / "a.py"
    module.write_text("x = 1\n")
    first = source_build_id.__wrapped__(tmp_path)
    assert source_build_id.__wrapped__(tmp_path) == first
    (tmp_path / "notes.txt").write_text("not code")
    assert source_build_id.__wrapped__(tmp_path) == first
    module.write_text("x = 2\n")
    assert source_build_id.__wrapped__(tmp_path) != first


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RTW_BUILD_ID", "v1/../x"),
        ("RTW_DEPLOYMENT_NAME", "my.deploy"),
        ("RTW_PROMOTE_ON_START", "sometimes"),
    ],
)
def test_bad_values_name_their_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    (line,) = describe_settings_error(caught.value)
    assert line.startswith(f"{variable}: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["promote", "bad id!"], "a build id is 1-128 letters"),
        (["promote", "v2", "--ramp", "150"], "--ramp"),
        (["drain-status", "v1 v2"], "a build id is 1-128 letters"),
    ],
)
async def test_bad_deployment_arguments_are_refused_before_connecting(
    args: list[str], message: str
) -> None:
    result = await rtw("deployment", *args, env={"TEMPORAL_ADDRESS": "localhost:1"})
    assert result.code == 2, result
    assert message in result.stderr
    assert "Traceback" not in result.stderr


# Temporal's worker controller (temporal-worker-controller v1.8.1,
# internal/k8s/deployments.go ApplyControllerPodSpecModifications) injects these two into the
# pods of a WorkerDeployment: the name is `<k8s namespace>/<WorkerDeployment name>`
# (computeWorkerDeploymentName), the build id its own (ComputeBuildID).
CONTROLLER_ENV = {
    "TEMPORAL_DEPLOYMENT_NAME": "shop/demo-payments",
    "TEMPORAL_WORKER_BUILD_ID": "1.1.0-7c9d5f6b8",
}


def test_the_controllers_settings_select_the_version_over_rtws_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in CONTROLLER_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RTW_BUILD_ID", "1.0.0")  # an image's default: the injected id wins
    versioning = Settings().versioning
    assert versioning.resolved_build_id == "1.1.0-7c9d5f6b8"
    config = deployment_config(versioning, TaskQueue.PAYMENTS, prefix="")
    assert config is not None
    assert config.version.deployment_name == "shop/demo-payments"
    assert config.version.build_id == "1.1.0-7c9d5f6b8"
    # The other queues' deployments (for rtw deployment, rtw ping) share the injected stem.
    assert deployment_name(versioning, TaskQueue.ORCHESTRATION, prefix="") == (
        "shop/demo-orchestration"
    )


def test_an_explicit_stem_must_agree_with_the_injected_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in CONTROLLER_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RTW_DEPLOYMENT_NAME", "shop/demo")  # what the chart sets: agrees
    settings = Settings()
    assert deployment_name(settings.versioning, TaskQueue.NOTIFICATIONS, prefix="") == (
        "shop/demo-notifications"
    )
    monkeypatch.setenv("RTW_DEPLOYMENT_NAME", "shop/other")
    with pytest.raises(ValidationError) as caught:
        Settings()
    (line,) = describe_settings_error(caught.value)
    assert "TEMPORAL_DEPLOYMENT_NAME 'shop/demo-payments' is none of the deployments" in line
    assert "shop/other-payments" in line


def test_an_injected_name_of_no_rtw_queue_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEMPORAL_DEPLOYMENT_NAME", "shop/my-worker")
    with pytest.raises(ValidationError) as caught:
        Settings()
    (line,) = describe_settings_error(caught.value)
    assert line.startswith("TEMPORAL_DEPLOYMENT_NAME 'shop/my-worker' does not end in")
    # with a queue prefix, the suffix includes it (a `.` becomes `-`)
    monkeypatch.setenv("TEMPORAL_DEPLOYMENT_NAME", "shop/demo-eu-payments")
    monkeypatch.setenv("RTW_QUEUE_PREFIX", "eu.")
    settings = Settings()
    assert deployment_name(settings.versioning, TaskQueue.ORCHESTRATION, prefix="eu.") == (
        "shop/demo-eu-orchestration"
    )


def test_a_worker_refuses_another_queues_injected_deployment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in CONTROLLER_ENV.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(DeploymentNameError, match="this orchestration worker's is"):
        deployment_config(Settings().versioning, TaskQueue.ORCHESTRATION, prefix="")


def test_the_controller_needs_versioning_on(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CONTROLLER_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RTW_WORKER_VERSIONING", "false")
    with pytest.raises(ValidationError) as caught:
        Settings()
    (line,) = describe_settings_error(caught.value)
    assert "RTW_WORKER_VERSIONING is false" in line


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TEMPORAL_WORKER_BUILD_ID", "bad id!"), ("TEMPORAL_DEPLOYMENT_NAME", "../x")],
)
def test_bad_injected_values_name_their_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    (line,) = describe_settings_error(caught.value)
    assert line.startswith(f"{variable}: ")


async def test_a_worker_started_with_a_mismatched_injected_name_says_why() -> None:
    result = await rtw(
        "worker",
        "payments",
        env={"TEMPORAL_ADDRESS": "localhost:1", "TEMPORAL_DEPLOYMENT_NAME": "ns/my-worker"},
    )
    assert result.code != 0
    assert "TEMPORAL_DEPLOYMENT_NAME 'ns/my-worker' does not end in" in result.stderr
    assert "Traceback" not in result.stderr
