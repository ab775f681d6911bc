"""Temporal Schedules of this deployment, applied idempotently (`rtw schedules apply`)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from services.contracts import (
    RECONCILIATION_SCHEDULE,
    RECONCILIATION_WORKFLOW,
    ReconciliationInput,
    TaskQueue,
    queue_name,
)

#: Memo key on the schedule's action holding the fingerprint of what `apply` wrote.
FINGERPRINT_MEMO = "rtw-schedule-fingerprint"


@dataclass(frozen=True)
class ReconciliationSchedule:
    """When and how the daily reconciliation runs."""

    hour_utc: int = 3
    minute: int = 0
    catchup_hours: int = 6
    lookback_hours: int = 72
    grace_minutes: int = 60


@dataclass(frozen=True)
class ScheduleDefinition:
    """One schedule as `apply` wants it, with a fingerprint of its parameters."""

    schedule_id: str
    schedule: Schedule
    fingerprint: str


@dataclass(frozen=True)
class ScheduleChange:
    """What `apply` did to one schedule: created, updated or unchanged."""

    schedule_id: str
    action: str


def _fingerprint(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def reconciliation_schedule(
    prefix: str, config: ReconciliationSchedule = ReconciliationSchedule()
) -> ScheduleDefinition:
    """Daily reconciliation; overlapping runs are skipped; missed runs are caught up
    within `catchup_hours` (e.g. after a server outage)."""
    task_queue = queue_name(TaskQueue.ORCHESTRATION, prefix=prefix)
    request = ReconciliationInput(
        lookback_hours=config.lookback_hours, grace_minutes=config.grace_minutes
    )
    fingerprint = _fingerprint(
        {
            **dataclasses.asdict(config),
            "workflow": RECONCILIATION_WORKFLOW,
            "task_queue": task_queue,
            "input": request.model_dump(mode="json"),
            "overlap": "skip",
            "version": 1,
        }
    )
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            RECONCILIATION_WORKFLOW,
            request,
            id=f"{prefix}reconciliation",
            task_queue=task_queue,
            execution_timeout=timedelta(hours=1),
            memo={FINGERPRINT_MEMO: fingerprint},
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    hour=[ScheduleRange(config.hour_utc)],
                    minute=[ScheduleRange(config.minute)],
                    comment="daily reconciliation",
                )
            ],
            time_zone_name="UTC",
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP,
            catchup_window=timedelta(hours=config.catchup_hours),
        ),
        state=ScheduleState(note="managed by `rtw schedules apply`"),
    )
    return ScheduleDefinition(f"{prefix}{RECONCILIATION_SCHEDULE}", schedule, fingerprint)


def desired_schedules(
    prefix: str, *, reconciliation: ReconciliationSchedule = ReconciliationSchedule()
) -> list[ScheduleDefinition]:
    """Every schedule this deployment runs."""
    return [reconciliation_schedule(prefix, reconciliation)]


async def _current_fingerprint(client: Client, schedule_id: str) -> str | None:
    """The fingerprint `apply` left on a schedule; None when it does not exist."""
    try:
        desc = await client.get_schedule_handle(schedule_id).describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    action = desc.schedule.action
    memo = getattr(action, "memo", None) or {}
    raw = memo.get(FINGERPRINT_MEMO)
    if raw is None:
        return ""
    value = client.data_converter.payload_converter.from_payloads([raw])[0]
    return str(value)


async def apply_schedule(client: Client, definition: ScheduleDefinition) -> ScheduleChange:
    """Create the schedule, or update it when its definition changed; else leave it alone.

    An operator's pause survives an update (the state is kept).
    """
    current = await _current_fingerprint(client, definition.schedule_id)
    if current == definition.fingerprint:
        return ScheduleChange(definition.schedule_id, "unchanged")
    if current is None:
        try:
            await client.create_schedule(definition.schedule_id, definition.schedule)
            return ScheduleChange(definition.schedule_id, "created")
        except ScheduleAlreadyRunningError:  # created concurrently: fall through to update
            pass

    def updater(update: ScheduleUpdateInput) -> ScheduleUpdate:
        state = update.description.schedule.state
        return ScheduleUpdate(schedule=dataclasses.replace(definition.schedule, state=state))

    await client.get_schedule_handle(definition.schedule_id).update(updater)
    return ScheduleChange(definition.schedule_id, "updated")


async def apply_schedules(
    client: Client,
    *,
    prefix: str,
    reconciliation: ReconciliationSchedule = ReconciliationSchedule(),
) -> list[ScheduleChange]:
    """Apply every desired schedule; running it twice changes nothing."""
    return [
        await apply_schedule(client, d)
        for d in desired_schedules(prefix, reconciliation=reconciliation)
    ]


async def list_schedules(client: Client, *, prefix: str) -> list[dict[str, Any]]:
    """The deployment's schedules (ids starting with `prefix`), JSON-ready."""
    found: list[dict[str, Any]] = []
    async for listed in await client.list_schedules():
        if not listed.id.startswith(prefix):
            continue
        entry: dict[str, Any] = {"schedule_id": listed.id}
        if listed.schedule is not None:
            action = listed.schedule.action
            entry["workflow"] = getattr(action, "workflow", None)
            entry["paused"] = listed.schedule.state.paused
            entry["calendars"] = [
                {
                    "hour": [r.start for r in c.hour],
                    "minute": [r.start for r in c.minute],
                    "comment": c.comment,
                }
                for c in listed.schedule.spec.calendars
            ]
        if listed.info is not None:
            entry["next_action_times"] = [t.isoformat() for t in listed.info.next_action_times]
            entry["recent_actions"] = len(listed.info.recent_actions)
        found.append(entry)
    return sorted(found, key=lambda e: str(e["schedule_id"]))
