"""`rtw bench events` and `rtw bench cost`: what an order's events and its billable actions
cost."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer

from services.bench.cli import RESULTS, OutDir, bench_app


@bench_app.command("events")
def events(
    sagas: Annotated[int, typer.Option(min=1, help="sagas per block")] = 40,
    blocks: Annotated[
        int, typer.Option(min=2, help="blocks, alternating without/with streams")
    ] = 4,
    concurrency: Annotated[int, typer.Option(min=1, help="sagas in flight")] = 10,
    streams: Annotated[
        int, typer.Option(min=1, help="open SSE streams in the streamed blocks")
    ] = 200,
    backend: Annotated[
        str, typer.Option(help="sqlite (rtw dev), postgresql (LISTEN/NOTIFY) or both")
    ] = "both",
    out_dir: OutDir = RESULTS,
) -> None:
    """Order events: commit-to-client latency (p50/p95/p99) and what open SSE streams add to
    the Temporal server's CPU per saga and to the gateways' memory."""
    from datetime import UTC, datetime

    from services.bench.events import EventsBenchConfig, run_events_bench, write_events_results
    from services.gateway.process import GatewayProcessError
    from services.runtime.devserver import DevServerError
    from services.runtime.local_stack import WorkerProcessError

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    chosen = {
        "both": ("sqlite", "postgresql"),
        "sqlite": ("sqlite",),
        "postgresql": ("postgresql",),
    }
    if backend not in chosen:
        typer.echo("rtw: --backend is sqlite, postgresql or both", err=True)
        raise typer.Exit(2)
    config = EventsBenchConfig(
        sagas=sagas,
        blocks=blocks,
        concurrency=concurrency,
        streams=streams,
        backends=chosen[backend],
        out_dir=out_dir,
    )
    command = (
        f"rtw bench events --sagas {sagas} --blocks {blocks} --concurrency {concurrency} "
        f"--streams {streams} --backend {backend}"
    )
    started = datetime.now(UTC)
    try:
        results = asyncio.run(run_events_bench(config))
    except (DevServerError, WorkerProcessError, GatewayProcessError) as exc:
        typer.echo(f"rtw: {exc}", err=True)
        raise typer.Exit(1) from None
    json_path, md_path = write_events_results(results, config, command=command, started=started)
    typer.echo(md_path.read_text(encoding="utf-8"))
    typer.echo(f"wrote {json_path} and {md_path}")


@bench_app.command("cost")
def cost(
    repeat: Annotated[int, typer.Option(min=1, help="orders of each type")] = 3,
    orders_only: Annotated[
        bool,
        typer.Option(
            "--orders-only",
            help="only the orders: no worker start, rollout, clients or bare mirror",
        ),
    ] = False,
    search_attributes: Annotated[
        bool,
        typer.Option(
            help="register the order search attributes (without: what their upserts cost)"
        ),
    ] = True,
    out_dir: OutDir = RESULTS,
    work_dir: Annotated[Path, typer.Option(help="scratch space (server, logs)")] = Path(
        ".rtw/bench-cost"
    ),
) -> None:
    """Billable actions per order type, per worker start and per rollout, from the Temporal
    server's own `action` metric (checked against the histories), and a million orders'
    price; figures in bench/results/ (latest.json: ratios.actions_per_happy_order)."""
    from services.bench.cost import CostConfig, run_cost_bench
    from services.runtime.devserver import DevServerError
    from services.runtime.local_stack import WorkerProcessError

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    config = CostConfig(
        repeat=repeat,
        worker_start=not orders_only,
        clients=() if orders_only else None,
        # the mirror publishes its state as OrderSaga does where the namespace has them
        bare=not orders_only and search_attributes,
        search_attributes=search_attributes,
        work_dir=work_dir,
    )
    command = f"rtw bench cost --repeat {repeat}" + (" --orders-only" if orders_only else "")
    command += "" if search_attributes else " --no-search-attributes"
    try:
        json_path, md_path, result = asyncio.run(
            run_cost_bench(
                config,
                command=command,
                out_dir=out_dir,
                progress=lambda what: typer.echo(f"rtw bench cost: {what}", err=True),
            )
        )
    except (DevServerError, WorkerProcessError) as exc:
        typer.echo(f"rtw: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(md_path.read_text(encoding="utf-8"))
    latest = f" and {out_dir / 'latest.json'}" if search_attributes else ""
    typer.echo(f"wrote {json_path}, {md_path}{latest}")
    unexpected = [n for n, o in result["orders"].items() if not o["ended_as_expected"]]
    if unexpected:
        typer.echo(f"rtw: orders that did not end as expected: {', '.join(unexpected)}", err=True)
        raise typer.Exit(1)
