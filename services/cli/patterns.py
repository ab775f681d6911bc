"""`rtw` commands of the workflow patterns: order approval, shipments, subscriptions,
schedules. Registered on the main app at the bottom of `services/cli/app.py`."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from services.cli._subjects import Subject, order, shipment, subscription
from services.cli._support import print_json, run_client_command
from services.contracts import PLAN_PRICES_CENTS, CarrierEventKind, TaskQueue
from services.runtime.config import Settings

subscription_app = typer.Typer(
    help="Start, change, cancel and inspect subscriptions.", no_args_is_help=True
)
schedules_app = typer.Typer(help="Apply and list the Temporal Schedules.", no_args_is_help=True)
shipment_app = typer.Typer(help="Feed carrier events to shipments.", no_args_is_help=True)

#: The plans a subscription can be on (`--plan` of `start` and `change-plan`).
PLANS = " | ".join(PLAN_PRICES_CENTS)

ReviewerOption = Annotated[str, typer.Option("--reviewer", "-r", help="who decides")]
ReasonOption = Annotated[str, typer.Option("--reason", help="why (kept in the order's status)")]


def _run(body: Callable[[Any, Settings], Awaitable[int]], subject: Subject | None = None) -> None:
    """Connect, run `body(client, settings)`, turn Temporal errors into one line + exit 1,
    in the words of `subject` (`no order o-1`, `order o-1 has ended (completed)`)."""
    from temporalio.client import WorkflowQueryFailedError, WorkflowUpdateFailedError
    from temporalio.exceptions import ApplicationError
    from temporalio.service import RPCError, RPCStatusCode

    async def guarded(client: Any, settings: Settings) -> int:
        try:
            return await body(client, settings)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            typer.echo(f"rtw: refused: {message}", err=True)
            return 1
        except WorkflowQueryFailedError as exc:
            what = subject.noun if subject else "the workflow"
            typer.echo(f"rtw: cannot read the status of {what}: {exc.message}", err=True)
            return 1
        except RPCError as exc:
            if exc.status is RPCStatusCode.UNAVAILABLE:
                raise  # the server went away: run_client_command says so in one line
            if exc.status is RPCStatusCode.NOT_FOUND and subject is not None:
                typer.echo(f"rtw: {await subject.not_found(client)}", err=True)
                return 1
            typer.echo(f"rtw: {exc.message}", err=True)
            return 1

    run_client_command(guarded)


# -- orders: human in the loop -----------------------------------------------------------


def _decide(decision: str, order_id: str, reviewer: str, reason: str) -> None:
    from pydantic import ValidationError

    from services.contracts import ApprovalRequest
    from services.orchestration.client import decide_order
    from services.orchestration.order_input import describe_validation_error

    try:
        ApprovalRequest(reviewer=reviewer, reason=reason)
    except ValidationError as exc:  # refused here, before anything reaches Temporal
        typer.echo(f"rtw: {describe_validation_error(exc, what='decision')}", err=True)
        raise typer.Exit(2) from None

    async def body(client: Any, _: Settings) -> int:
        result = await decide_order(
            client, order_id, decision, ApprovalRequest(reviewer=reviewer, reason=reason)
        )
        print_json(result.model_dump(mode="json"))
        return 0

    _run(body, order(order_id, decision))


def order_approve(
    order_id: Annotated[str, typer.Argument(help="the order's id")],
    reviewer: ReviewerOption,
    reason: ReasonOption = "",
) -> None:
    """Approve an order waiting for approval (update `approve`); exit 1 when refused."""
    _decide("approve", order_id, reviewer, reason)


def order_reject(
    order_id: Annotated[str, typer.Argument(help="the order's id")],
    reviewer: ReviewerOption,
    reason: ReasonOption = "",
) -> None:
    """Reject an order waiting for approval (update `reject`); exit 1 when refused."""
    _decide("reject", order_id, reviewer, reason)


# -- shipments: external events ----------------------------------------------------------


@shipment_app.command("event")
def shipment_event(
    order_id: Annotated[str, typer.Argument(help="the order whose parcel this is")],
    event: Annotated[CarrierEventKind, typer.Argument(help="what the carrier reports")],
    event_id: Annotated[
        str | None,
        typer.Option(help="the carrier's event id (repeats are ignored); default: a new one"),
    ] = None,
) -> None:
    """Send a `carrier_event` signal to `shipment-ORDER_ID`."""
    from services.contracts import CarrierEvent
    from services.orchestration.client import send_carrier_event

    carrier_event = CarrierEvent(event_id=event_id or f"cli-{uuid.uuid4().hex[:12]}", event=event)

    async def body(client: Any, _: Settings) -> int:
        await send_carrier_event(client, order_id, carrier_event)
        print_json(carrier_event.model_dump(mode="json"))
        return 0

    _run(body, shipment(order_id, "send"))


@shipment_app.command("status")
def shipment_status_cmd(
    order_id: Annotated[str, typer.Argument(help="the order whose parcel this is")],
) -> None:
    """Print the shipment's `status` query as JSON."""
    from services.orchestration.client import shipment_status

    async def body(client: Any, _: Settings) -> int:
        print_json((await shipment_status(client, order_id)).model_dump(mode="json"))
        return 0

    _run(body, shipment(order_id, "read"))


# -- subscriptions: a long-running entity ------------------------------------------------


@subscription_app.command("start")
def subscription_start(
    subscription_id: Annotated[str, typer.Option("--id", help="the subscription's id")],
    customer_id: Annotated[str, typer.Option("--customer", help="who pays")],
    plan: Annotated[str, typer.Option(help=PLANS)] = "basic",
    payment_method: Annotated[str, typer.Option(help="payment method token")] = "pm_card_visa",
    currency: Annotated[str, typer.Option(help="ISO 4217 code")] = "USD",
) -> None:
    """Start a subscription (once per id); the first cycle is charged at once."""
    from services.contracts import SubscriptionInput
    from services.orchestration.client import start_subscription

    try:
        subscription = SubscriptionInput(
            subscription_id=subscription_id,
            customer_id=customer_id,
            plan=plan,
            payment_method=payment_method,
            currency=currency,
        )
    except ValidationError as exc:
        from services.orchestration.order_saga import describe_validation_error

        typer.echo(f"rtw: {describe_validation_error(exc)}", err=True)
        raise typer.Exit(2) from None

    async def body(client: Any, settings: Settings) -> int:
        handle, created = await start_subscription(
            client, subscription, task_queue=settings.queue_name(TaskQueue.ORCHESTRATION)
        )
        typer.echo(handle.id if created else f"{handle.id} (already exists; nothing new started)")
        return 0

    _run(body)


@subscription_app.command("change-plan")
def subscription_change_plan(
    subscription_id: Annotated[str, typer.Argument(help="the subscription's id")],
    plan: Annotated[str, typer.Option(help="plan to bill from the next cycle: " + PLANS)],
) -> None:
    """Change the plan from the next billing cycle (update `change_plan`)."""
    from services.contracts import CHANGE_PLAN, ChangePlanRequest, SubscriptionStatus
    from services.orchestration.client import subscription_handle

    async def body(client: Any, _: Settings) -> int:
        status = await subscription_handle(client, subscription_id).execute_update(
            CHANGE_PLAN, ChangePlanRequest(plan=plan), result_type=SubscriptionStatus
        )
        print_json(status.model_dump(mode="json"))
        return 0

    _run(body, subscription(subscription_id, "change"))


@subscription_app.command("cancel")
def subscription_cancel(
    subscription_id: Annotated[str, typer.Argument(help="the subscription's id")],
    reason: ReasonOption = "",
) -> None:
    """Cancel now: no further charges (update `cancel`)."""
    from services.contracts import CANCEL, CancelRequest, SubscriptionStatus
    from services.orchestration.client import subscription_handle

    async def body(client: Any, _: Settings) -> int:
        status = await subscription_handle(client, subscription_id).execute_update(
            CANCEL, CancelRequest(reason=reason), result_type=SubscriptionStatus
        )
        print_json(status.model_dump(mode="json"))
        return 0

    _run(body, subscription(subscription_id, "cancel"))


@subscription_app.command("status")
def subscription_status(
    subscription_id: Annotated[str, typer.Argument(help="the subscription's id")],
) -> None:
    """Print the subscription's `status` query as JSON."""
    from services.contracts import STATUS_QUERY, SubscriptionStatus
    from services.orchestration.client import subscription_handle

    async def body(client: Any, _: Settings) -> int:
        status = await subscription_handle(client, subscription_id).query(
            STATUS_QUERY, result_type=SubscriptionStatus
        )
        print_json(status.model_dump(mode="json"))
        return 0

    _run(body, subscription(subscription_id, "read"))


# -- schedules ---------------------------------------------------------------------------


@schedules_app.command("apply")
def schedules_apply(
    hour_utc: Annotated[int, typer.Option(min=0, max=23, help="reconciliation hour (UTC)")] = 3,
    catchup_hours: Annotated[
        int, typer.Option(min=0, help="missed runs are caught up within this window")
    ] = 6,
) -> None:
    """Create or update the schedules; running it twice changes nothing."""
    from services.orchestration.schedules import ReconciliationSchedule, apply_schedules

    config = ReconciliationSchedule(hour_utc=hour_utc, catchup_hours=catchup_hours)

    async def body(client: Any, settings: Settings) -> int:
        changes = await apply_schedules(client, prefix=settings.queue_prefix, reconciliation=config)
        print_json([{"schedule_id": c.schedule_id, "action": c.action} for c in changes])
        return 0

    _run(body)


@schedules_app.command("list")
def schedules_list() -> None:
    """List this deployment's schedules (ids under RTW_QUEUE_PREFIX) as JSON."""
    from services.orchestration.schedules import list_schedules

    async def body(client: Any, settings: Settings) -> int:
        print_json(await list_schedules(client, prefix=settings.queue_prefix))
        return 0

    _run(body)
