"""Worker Versioning settings: which Worker Deployment and build id a worker belongs to."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from functools import cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.common import WorkerDeploymentVersion
from temporalio.worker import WorkerDeploymentConfig

from services.contracts import TaskQueue, queue_name

#: Deployment names are `<stem>-<queue>`; the stem when RTW_DEPLOYMENT_NAME is unset.
DEFAULT_STEM = "rtw"


class PromoteOnStart(StrEnum):
    """What a versioned worker does about its deployment's routing when it starts."""

    NEVER = "never"
    """Leave routing to `rtw deployment promote` (the chart's hook Job)."""
    IF_UNSET = "if-unset"
    """Become current only when the deployment has no current version yet (a first start)."""
    ALWAYS = "always"
    """Become current at once: the newest worker wins (`rtw dev`, a single-host stack)."""


class VersioningSettings(BaseSettings):
    """Worker Versioning: deployment name, build id, and whether it is used at all."""

    model_config = SettingsConfigDict(env_prefix="RTW_", extra="ignore", hide_input_in_errors=True)

    worker_versioning: bool = Field(
        default=True, description="false for servers without Worker Deployments"
    )
    build_id: str | None = Field(
        default=None,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="this worker's build; unset: a hash of the services/ source",
    )
    deployment_name: str = Field(
        default=DEFAULT_STEM,
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
        description="stem of the Worker Deployment names: <stem>-<queue-prefix><queue>",
    )
    promote_on_start: PromoteOnStart = PromoteOnStart.IF_UNSET

    @field_validator("build_id", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def resolved_build_id(self) -> str:
        """The configured build id, or the hash of the running source."""
        return self.build_id or source_build_id()


@cache
def source_build_id(root: Path | None = None) -> str:
    """A content hash of every Python file under `root` (the `services` package): equal
    code, equal build id."""
    root = root if root is not None else Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return f"src-{digest.hexdigest()[:12]}"


def deployment_name(versioning: VersioningSettings, queue: TaskQueue, *, prefix: str) -> str:
    """The Worker Deployment of one queue: `<stem>-<prefix><queue>` (a `.` in the queue
    prefix becomes `-`: Temporal reserves `.` to join deployment name and build id)."""
    return f"{versioning.deployment_name}-{queue_name(queue, prefix=prefix).replace('.', '-')}"


def deployment_config(
    versioning: VersioningSettings, queue: TaskQueue, *, prefix: str
) -> WorkerDeploymentConfig | None:
    """The SDK's deployment options for a worker of `queue`, or None when versioning is off.

    No default behavior is set: every workflow declares its own on purpose, and the SDK
    refuses to register one that does not.
    """
    if not versioning.worker_versioning:
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(
            deployment_name=deployment_name(versioning, queue, prefix=prefix),
            build_id=versioning.resolved_build_id,
        ),
        use_worker_versioning=True,
    )
