"""`rtw db …`, `rtw payments ledger`, `rtw notifications outbox`: the workers' shared state."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import typer

from services.cli._support import print_json, settings_or_exit, with_database
from services.runtime.database import Database

T = TypeVar("T")

db_app = typer.Typer(
    help="The database workers keep state in (RTW_DATABASE_URL, else SQLite under RTW_DATA_DIR).",
    no_args_is_help=True,
)
payments_app = typer.Typer(help="Inspect the payments service.", no_args_is_help=True)
notifications_app = typer.Typer(help="Inspect the notifications service.", no_args_is_help=True)


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending schema migrations (idempotent; safe to run concurrently)."""

    async def work(db: Database) -> tuple[list[int], int, str]:
        applied = await db.migrate()
        return applied, (await db.schema_state()).applied, db.where

    applied, version, where = with_database(work, require_current=False)
    if applied:
        typer.echo(f"migrated {where} to version {version} (applied {applied})")
    else:
        typer.echo(f"{where} is up to date (version {version})")


@db_app.command("status")
def db_status(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show the backend, schema version, store identity and (PostgreSQL) connections in use;
    exit 1 when `rtw db migrate` is needed or the server has no connection to give (the
    message names the sizing rule: max_connections >= worker processes x pool size)."""
    from services.runtime.database import PostgresDatabase

    pool_size = settings_or_exit().database.pool_size

    async def work(db: Database) -> dict[str, Any]:
        state = await db.schema_state()
        info: dict[str, Any] = {
            "backend": db.backend,
            "where": db.where,
            "applied": state.applied,
            "required": state.required,
            "current": state.current,
            "store": (await db.identity()).tag if state.current else None,
        }
        if isinstance(db, PostgresDatabase):
            in_use, most, reserved = await db.connections()
            info["connections"] = {"in_use": in_use, "max": most, "reserved": reserved}
        return info

    info = with_database(work, require_current=False)
    if as_json:
        print_json(info)
    else:
        verdict = "up to date" if info["current"] else "needs `rtw db migrate`"
        typer.echo(
            f"{info['backend']} {info['where']}: schema version {info['applied']} "
            f"(this build needs {info['required']}): {verdict}"
        )
        if info["store"]:
            typer.echo(f"store identity: {info['store']}")
        if connections := info.get("connections"):
            usable = connections["max"] - connections["reserved"]
            typer.echo(
                f"connections: {connections['in_use']} in use of {usable} "
                f"(max_connections {connections['max']}, {connections['reserved']} reserved for "
                f"superusers); each worker process takes up to {pool_size} "
                "(RTW_DATABASE_POOL_SIZE): keep worker processes x pool size below that"
            )
    if not info["current"]:
        raise typer.Exit(1)


@payments_app.command("ledger")
def payments_ledger(
    order_id: Annotated[str | None, typer.Option(help="only this order's entries")] = None,
    since: Annotated[
        str | None, typer.Option(help="only entries at or after this ISO 8601 time")
    ] = None,
    limit: Annotated[int, typer.Option(help="at most this many entries")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Print ledger entries, oldest first (filtered in SQL)."""
    from services.payments import ledger_for

    async def work(db: Database) -> tuple[list[dict[str, Any]], str]:
        found = await ledger_for(db).entries(order_id=order_id, since=since, limit=limit)
        return [e.as_dict() for e in found], f"{db.backend} {db.where}"

    entries, source = with_database(work, require_current=True)
    if as_json:
        print_json(entries)
        return
    typer.echo(f"ledger in {source}", err=True)
    if not entries:
        scope = "".join(
            (f" for order {order_id}" if order_id else "", f" since {since}" if since else "")
        )
        typer.echo(f"no ledger entries{scope}")
        return
    typer.echo(_ledger_line("created_at", "order_id", "kind", "amount_cents", "currency", "key"))
    for e in entries:
        typer.echo(
            _ledger_line(
                e["created_at"],
                e["order_id"],
                e["kind"],
                str(e["amount_cents"]),
                e["currency"],
                e["key"],
            )
        )


def _ledger_line(created: str, order: str, kind: str, amount: str, currency: str, key: str) -> str:
    """One row of `rtw payments ledger`; the header uses the same columns."""
    return f"{created:<32}  {order:<24} {kind:<14} {amount:>12} {currency:<8}  {key}"


@notifications_app.command("outbox")
def notifications_outbox(
    order_id: Annotated[str | None, typer.Option(help="only this order's messages")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Print the messages in the outbox, oldest first."""
    from services.notifications import outbox_for

    async def work(db: Database) -> tuple[list[dict[str, Any]], str]:
        return await outbox_for(db).delivered(order_id=order_id), f"{db.backend} {db.where}"

    messages, source = with_database(work, require_current=True)
    if as_json:
        print_json(messages)
        return
    typer.echo(f"outbox in {source}", err=True)
    if not messages:
        typer.echo(f"no delivered messages{f' for order {order_id}' if order_id else ''}")
        return
    for m in messages:
        typer.echo(
            f"{m['delivered_at']}  {m.get('order_id') or '-':<24} {m['kind']:<28} "
            f"{m['customer_id']}  {m['dedupe_key']}"
        )
