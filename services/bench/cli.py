"""`rtw bench …` commands."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated

import typer

bench_app = typer.Typer(help="Benchmarks on a fresh local stack.", no_args_is_help=True)


@bench_app.command("tracing")
def tracing(
    sagas: Annotated[int, typer.Option(min=1, help="sagas per block (after warm-up)")] = 80,
    blocks: Annotated[int, typer.Option(min=2, help="blocks, alternating off/on")] = 6,
    concurrency: Annotated[int, typer.Option(min=1, help="sagas in flight")] = 16,
    out_dir: Annotated[Path, typer.Option(help="where JSON and markdown go")] = Path(
        "bench/results"
    ),
) -> None:
    """Saga throughput and worker CPU per saga with tracing off vs on (interleaved blocks)."""
    from services.bench.tracing import BenchConfig, run_tracing_bench
    from services.runtime.devserver import DevServerError
    from services.runtime.local_stack import WorkerProcessError

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    config = BenchConfig(sagas=sagas, blocks=blocks, concurrency=concurrency, out_dir=out_dir)
    command = f"rtw bench tracing --sagas {sagas} --blocks {blocks} --concurrency {concurrency}"
    try:
        json_path, md_path, summary = asyncio.run(run_tracing_bench(config, command=command))
    except (DevServerError, WorkerProcessError) as exc:
        typer.echo(f"rtw: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(summary, indent=2))
    typer.echo(f"wrote {json_path} and {md_path}")


@bench_app.command("versioning")
def versioning(
    sagas: Annotated[int, typer.Option(min=1, help="sagas per block (after warm-up)")] = 80,
    blocks: Annotated[int, typer.Option(min=2, help="blocks, alternating off/on")] = 6,
    concurrency: Annotated[int, typer.Option(min=1, help="sagas in flight")] = 16,
    out_dir: Annotated[Path, typer.Option(help="where JSON and markdown go")] = Path(
        "bench/results"
    ),
) -> None:
    """Saga throughput and worker CPU per saga with Worker Versioning off vs on."""
    from services.bench.tracing import BenchConfig
    from services.bench.versioning import run_versioning_bench
    from services.runtime.devserver import DevServerError
    from services.runtime.local_stack import WorkerProcessError

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    config = BenchConfig(sagas=sagas, blocks=blocks, concurrency=concurrency, out_dir=out_dir)
    command = f"rtw bench versioning --sagas {sagas} --blocks {blocks} --concurrency {concurrency}"
    try:
        json_path, md_path, summary = asyncio.run(run_versioning_bench(config, command=command))
    except (DevServerError, WorkerProcessError) as exc:
        typer.echo(f"rtw: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(summary, indent=2))
    typer.echo(f"wrote {json_path} and {md_path}")


@bench_app.command("ledger")
def ledger(
    records: Annotated[int, typer.Option(min=10, help="records per backend and phase")] = 400,
    concurrency: Annotated[int, typer.Option(min=1, help="writers in the concurrent phase")] = 8,
    out_dir: Annotated[Path, typer.Option(help="where JSON and markdown go")] = Path(
        "bench/results"
    ),
) -> None:
    """The ledger's `record` round trip (p50/p99) and concurrent rate, SQLite vs PostgreSQL."""
    from services.bench.ledger import run_ledger_bench, write_ledger_results
    from services.chaos.postgres import PostgresUnavailableError

    try:
        results = asyncio.run(run_ledger_bench(records=records, concurrency=concurrency))
    except PostgresUnavailableError as exc:
        typer.echo(f"rtw: {exc}", err=True)
        raise typer.Exit(1) from None
    command = f"rtw bench ledger --records {records} --concurrency {concurrency}"
    json_path, md_path = write_ledger_results(results, out_dir=out_dir, command=command)
    typer.echo(md_path.read_text(encoding="utf-8"))
    typer.echo(f"wrote {json_path} and {md_path}")


@bench_app.command("codec")
def codec(
    sagas: Annotated[int, typer.Option(min=1, help="sagas per block (after warm-up)")] = 60,
    blocks: Annotated[int, typer.Option(min=2, help="blocks, alternating off/on")] = 4,
    concurrency: Annotated[int, typer.Option(min=1, help="sagas in flight")] = 16,
    out_dir: Annotated[Path, typer.Option(help="where JSON and markdown go")] = Path(
        "bench/results"
    ),
) -> None:
    """Payload encryption's cost: the codec alone, and saga throughput with it off vs on."""
    from services.bench.codec import CodecBenchConfig, run_codec_bench
    from services.runtime.devserver import DevServerError
    from services.runtime.local_stack import WorkerProcessError

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    config = CodecBenchConfig(sagas=sagas, blocks=blocks, concurrency=concurrency, out_dir=out_dir)
    command = f"rtw bench codec --sagas {sagas} --blocks {blocks} --concurrency {concurrency}"
    try:
        json_path, md_path, _ = asyncio.run(run_codec_bench(config, command=command))
    except (DevServerError, WorkerProcessError) as exc:
        typer.echo(f"rtw: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(md_path.read_text(encoding="utf-8"))
    typer.echo(f"wrote {json_path} and {md_path}")


@bench_app.command("gateway")
def gateway(
    duration: Annotated[int, typer.Option(min=1, help="seconds of wrk per phase")] = 15,
    connections: Annotated[int, typer.Option(min=1, help="wrk connections")] = 16,
    out_dir: Annotated[Path, typer.Option(help="where JSON and markdown go")] = Path(
        "bench/results"
    ),
) -> None:
    """HTTP load on the gateway with wrk: POST /orders and GET /orders/{id}, requests/s,
    p50/p99, and CPU per request of the gateway vs the orchestration worker."""
    from datetime import UTC, datetime

    from services.bench.gateway import (
        GatewayBenchConfig,
        WrkMissingError,
        run_gateway_bench,
        write_gateway_results,
    )
    from services.gateway.process import GatewayProcessError
    from services.runtime.devserver import DevServerError
    from services.runtime.local_stack import WorkerProcessError

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    config = GatewayBenchConfig(duration=duration, connections=connections, out_dir=out_dir)
    command = f"rtw bench gateway --duration {duration} --connections {connections}"
    started = datetime.now(UTC)
    try:
        phases = asyncio.run(run_gateway_bench(config))
    except (WrkMissingError, DevServerError, WorkerProcessError, GatewayProcessError) as exc:
        typer.echo(f"rtw: {exc}", err=True)
        raise typer.Exit(1) from None
    json_path, md_path = write_gateway_results(phases, config, command=command, started=started)
    typer.echo(md_path.read_text(encoding="utf-8"))
    typer.echo(f"wrote {json_path} and {md_path}")
