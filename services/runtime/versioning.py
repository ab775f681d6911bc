"""Worker Versioning settings: which Worker Deployment and build id a worker belongs to.

Precedence (first found wins):
- build id: `TEMPORAL_WORKER_BUILD_ID` (injected by Temporal's worker controller into the pods
  it runs), then `RTW_BUILD_ID`, then a hash of the `services/` source.
- deployment name of the queue a worker serves: `TEMPORAL_DEPLOYMENT_NAME` (injected by the
  controller: `<k8s namespace>/<WorkerDeployment name>`, one resource per queue), else
  `<stem>-<prefix><queue>`. The stem that names the *other* queues' deployments (for
  `rtw deployment`, `rtw ping`): `RTW_DEPLOYMENT_NAME`, else the injected name without its
  `-<prefix><queue>` suffix, else `rtw`. An injected name that is not `<stem>-<prefix><queue>`
  for one of rtw's queues, or that disagrees with `RTW_DEPLOYMENT_NAME`, is refused at start:
  the other queues' deployments could not be found.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from functools import cache
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.common import WorkerDeploymentVersion
from temporalio.worker import WorkerDeploymentConfig

from services.contracts import TaskQueue, queue_name

#: Deployment names are `<stem>-<queue>`; the stem when RTW_DEPLOYMENT_NAME is unset.
DEFAULT_STEM = "rtw"
#: A build id: what Temporal and a Kubernetes label value both accept (the controller's are
#: `<image tag>-<pod template hash>`, at most 63 characters).
BUILD_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class DeploymentNameError(ValueError):
    """A controller-injected deployment name that rtw cannot map to its queues."""


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
        pattern=BUILD_ID_PATTERN,
        description="this worker's build; unset: a hash of the services/ source",
    )
    deployment_name: str = Field(
        default=DEFAULT_STEM,
        min_length=1,
        max_length=200,
        # `<k8s namespace>/<name>` is how the worker controller names Worker Deployments
        pattern=r"^([a-z0-9][a-z0-9-]*/)?[A-Za-z0-9][A-Za-z0-9_-]*$",
        description="stem of the Worker Deployment names: <stem>-<queue-prefix><queue>",
    )
    promote_on_start: PromoteOnStart = PromoteOnStart.IF_UNSET
    controller_deployment_name: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TEMPORAL_DEPLOYMENT_NAME"),
        max_length=255,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
        description="this worker's Worker Deployment, injected by the worker controller",
    )
    controller_build_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TEMPORAL_WORKER_BUILD_ID"),
        max_length=128,
        pattern=BUILD_ID_PATTERN,
        description="this worker's build, injected by the worker controller",
    )

    @field_validator("build_id", "controller_deployment_name", "controller_build_id", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def resolved_build_id(self) -> str:
        """TEMPORAL_WORKER_BUILD_ID, else RTW_BUILD_ID, else the hash of the running source."""
        return self.controller_build_id or self.build_id or source_build_id()

    def stem(self, *, prefix: str) -> str:
        """The stem of every queue's deployment name (see the module docstring)."""
        injected = self.controller_deployment_name
        if injected is None:
            return self.deployment_name
        names = {queue: _queue_suffix(queue, prefix) for queue in TaskQueue}
        if "deployment_name" in self.model_fields_set:
            derived = {f"{self.deployment_name}{suffix}" for suffix in names.values()}
            if injected not in derived:
                raise DeploymentNameError(
                    f"TEMPORAL_DEPLOYMENT_NAME {injected!r} is none of the deployments "
                    f"RTW_DEPLOYMENT_NAME {self.deployment_name!r} names "
                    f"({', '.join(sorted(derived))}): name each queue's WorkerDeployment "
                    f"<stem>-<queue> and set RTW_DEPLOYMENT_NAME to <k8s namespace>/<stem>, "
                    "or unset RTW_DEPLOYMENT_NAME"
                )
            return self.deployment_name
        for suffix in names.values():
            if injected.endswith(suffix) and len(injected) > len(suffix):
                return injected.removesuffix(suffix)
        raise DeploymentNameError(
            f"TEMPORAL_DEPLOYMENT_NAME {injected!r} does not end in the name of one of rtw's "
            f"queues ({', '.join(names.values())}), so the other queues' deployments cannot "
            "be found: name each queue's WorkerDeployment <stem>-<queue> (what the rtw chart "
            "renders with versioning.mode=controller)"
        )


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


def _queue_suffix(queue: TaskQueue, prefix: str) -> str:
    """`-<prefix><queue>` (a `.` in the queue prefix becomes `-`: Temporal reserves `.` to
    join deployment name and build id)."""
    return f"-{queue_name(queue, prefix=prefix).replace('.', '-')}"


def deployment_name(versioning: VersioningSettings, queue: TaskQueue, *, prefix: str) -> str:
    """The Worker Deployment of one queue: `<stem>-<prefix><queue>`."""
    return f"{versioning.stem(prefix=prefix)}{_queue_suffix(queue, prefix)}"


def deployment_config(
    versioning: VersioningSettings, queue: TaskQueue, *, prefix: str
) -> WorkerDeploymentConfig | None:
    """The SDK's deployment options for a worker of `queue`, or None when versioning is off.

    No default behavior is set: every workflow declares its own on purpose, and the SDK
    refuses to register one that does not. Raises DeploymentNameError when the worker
    controller injected the deployment of another queue.
    """
    if not versioning.worker_versioning:
        return None
    name = deployment_name(versioning, queue, prefix=prefix)
    injected = versioning.controller_deployment_name
    if injected is not None and injected != name:
        raise DeploymentNameError(
            f"TEMPORAL_DEPLOYMENT_NAME {injected!r} is another queue's deployment; this "
            f"{queue.value} worker's is {name!r}: run `rtw worker {queue.value}` only in "
            "the pods of its own queue's WorkerDeployment"
        )
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(
            deployment_name=name, build_id=versioning.resolved_build_id
        ),
        use_worker_versioning=True,
    )
