"""`RTW_WORKFLOW_SANDBOX`: strict by default; `off` swaps the orchestration worker's runner."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from temporalio.worker import UnsandboxedWorkflowRunner

from services.contracts import TaskQueue
from services.runtime.config import SandboxMode, Settings, describe_settings_error
from services.runtime.database import StoreIdentity
from services.runtime.worker_host import worker_options

STORE = StoreIdentity(id="0123456789abcdef", location="sqlite:/tmp/rtw.sqlite3")


def test_the_sandbox_is_strict_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RTW_WORKFLOW_SANDBOX", raising=False)
    assert Settings().workflow_sandbox is SandboxMode.STRICT
    assert "workflow_runner" not in worker_options(Settings(), TaskQueue.ORCHESTRATION, STORE)

    monkeypatch.setenv("RTW_WORKFLOW_SANDBOX", "off")
    off = Settings()
    assert off.workflow_sandbox is SandboxMode.OFF
    runner = worker_options(off, TaskQueue.ORCHESTRATION, STORE)["workflow_runner"]
    assert isinstance(runner, UnsandboxedWorkflowRunner)
    # Activity-only workers have no workflows to run: nothing changes for them.
    assert "workflow_runner" not in worker_options(off, TaskQueue.PAYMENTS, STORE)


def test_a_wrong_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTW_WORKFLOW_SANDBOX", "lenient")
    with pytest.raises(ValidationError) as caught:
        Settings()
    [line] = describe_settings_error(caught.value)
    assert line.startswith("RTW_WORKFLOW_SANDBOX:")
