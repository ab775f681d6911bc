"""`rtw chaos`: faults under load against a local multi-replica stack; exit 1 on any loss."""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer


def chaos(
    profile: Annotated[
        str, typer.Option(help="quick (CI, about a minute) or full (200 sagas, 10+ kills)")
    ] = "quick",
    sagas: Annotated[
        int | None, typer.Option(min=1, help="override the profile's saga count")
    ] = None,
    kills: Annotated[
        int | None, typer.Option(min=0, help="override the profile's payments SIGKILLs")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed of the order mix and kill targets")] = 7,
    database_url: Annotated[
        str | None,
        typer.Option(
            envvar="RTW_CHAOS_DATABASE_URL",
            help="an empty PostgreSQL database to use; default: a throwaway local cluster",
        ),
    ] = None,
    out_dir: Annotated[Path, typer.Option(help="where JSON and markdown go")] = Path(
        "bench/results"
    ),
) -> None:
    """Sagas in flight on 2 orchestration + 3 payments + 2 notifications workers sharing one
    PostgreSQL, while workers are killed, the server restarts, workers roll, and hostile
    input arrives. Exits 1 unless nothing was lost, double-charged, orphaned or oversold."""
    from dataclasses import replace

    from services.chaos.postgres import PostgresUnavailableError
    from services.chaos.report import write_report
    from services.chaos.run import PROFILES, run_chaos
    from services.runtime.devserver import DevServerError
    from services.runtime.local_stack import WorkerProcessError

    if profile not in PROFILES:
        typer.echo(f"rtw: unknown profile {profile!r}; one of {sorted(PROFILES)}", err=True)
        raise typer.Exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    for noisy in ("temporalio", "aiohttp", "psycopg"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    config = replace(PROFILES[profile], seed=seed)
    if sagas is not None:
        config = replace(config, sagas=sagas)
    if kills is not None:
        config = replace(config, payment_kills=kills)

    def progress(done: int, total: int) -> None:
        if done == total or done % max(1, total // 20) == 0:
            typer.echo(f"  {done}/{total} sagas closed", err=True)

    command = " ".join(["rtw", "chaos", *sys.argv[2:]]) if len(sys.argv) > 2 else "rtw chaos"
    try:
        report = asyncio.run(
            run_chaos(
                config,
                profile=profile,
                work_dir=Path(tempfile.mkdtemp(prefix="rtw-chaos-")),
                database_url=database_url,
                on_progress=progress,
            )
        )
    except (DevServerError, WorkerProcessError, PostgresUnavailableError) as exc:
        typer.echo(f"rtw: {exc}", err=True)
        raise typer.Exit(1) from None
    json_path, md_path = write_report(report, out_dir=out_dir, command=command)
    typer.echo(md_path.read_text(encoding="utf-8"))
    typer.echo(f"wrote {json_path} and {md_path}")
    raise typer.Exit(0 if report.ok else 1)
