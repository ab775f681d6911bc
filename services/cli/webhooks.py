"""`rtw webhooks …`: outbound webhook deliveries that failed, replaying them, a sample receiver."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from services.cli._support import print_json, with_database

webhooks_app = typer.Typer(
    help="Outbound webhooks: failed deliveries, replay, a sample receiver.", no_args_is_help=True
)


def _with_deliveries(work: Any) -> Any:
    """Run `work(deliveries)` on the configured database; one line and exit 1 on failure."""
    from services.webhooks.deliveries import deliveries_for

    return with_database(lambda db: work(deliveries_for(db)))


def _line(d: dict[str, Any]) -> str:
    return (
        f"{d['id']:>8}  {d['endpoint']:<16} {d['event_id']:<36} {d['event_type']:<32} "
        f"{d['attempts']:>3}  {d['last_error'] or ''}"
    )


@webhooks_app.command("failed")
def failed(
    endpoint: Annotated[str | None, typer.Option(help="only this endpoint's")] = None,
    order_id: Annotated[str | None, typer.Option(help="only this order's")] = None,
    limit: Annotated[int, typer.Option(help="at most this many")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Deliveries that gave up (after RTW_WEBHOOK_GIVE_UP_HOURS), oldest first."""

    async def work(store: Any) -> list[dict[str, Any]]:
        found = await store.listing(
            state="failed", endpoint=endpoint, order_id=order_id, limit=limit
        )
        return [d.as_dict() for d in found]

    rows = _with_deliveries(work)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no failed deliveries")
        return
    header = {"id": "id", "endpoint": "endpoint", "event_id": "event", "event_type": "type"}
    typer.echo(_line({**header, "attempts": "try", "last_error": "last error"}))
    for row in rows:
        typer.echo(_line(row))


@webhooks_app.command("replay")
def replay(
    delivery_id: Annotated[
        int | None,
        typer.Argument(help="a failed delivery (with the other failed ones of its order)"),
    ] = None,
    endpoint: Annotated[str | None, typer.Option(help="every failed one of this endpoint")] = None,
    order_id: Annotated[str | None, typer.Option(help="every failed one of this order")] = None,
    every: Annotated[bool, typer.Option("--all", help="every failed delivery")] = False,
) -> None:
    """Send failed deliveries again, in order, with a fresh delivery window."""
    if delivery_id is None and endpoint is None and order_id is None and not every:
        typer.echo("rtw: name a delivery id, --endpoint, --order-id or --all", err=True)
        raise typer.Exit(2)

    async def work(store: Any) -> list[Any]:
        result: list[Any] = await store.replay(
            delivery_id=delivery_id, endpoint=endpoint, order_id=order_id
        )
        return result

    replayed = _with_deliveries(work)
    typer.echo(f"replaying {len(replayed)} deliveries")
    if delivery_id is not None and not replayed:
        raise typer.Exit(1)


@webhooks_app.command("receive")
def receive(
    port: Annotated[int, typer.Option(help="port to listen on")] = 9000,
    secret_file: Annotated[
        Path,
        typer.Option(help="the endpoint's secret", envvar="RTW_WEBHOOK_RECEIVER_SECRET_FILE"),
    ] = Path("webhook-receiver-secret"),
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
) -> None:
    """A sample receiver: checks signatures, applies each event id once, prints events."""
    import logging

    from aiohttp import web

    from services.webhooks.receiver import receiver_app

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        secret = secret_file.read_bytes().strip()
    except OSError as exc:
        typer.echo(f"rtw: cannot read {secret_file}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    web.run_app(receiver_app(secret), host=host, port=port, print=None)
