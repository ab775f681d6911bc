"""`rtw bench …` commands."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

bench_app = typer.Typer(help="Benchmarks on a fresh local stack.", no_args_is_help=True)


@bench_app.command("run")
def run(
    profile: Annotated[
        str, typer.Option(help="quick (about 3 min on 2 cores) or full (about 15 min)")
    ] = "quick",
    blocks: Annotated[
        int | None, typer.Option(min=1, help="override the profile's block count")
    ] = None,
    variants: Annotated[
        str | None, typer.Option(help="comma-separated subset of variants (default: all)")
    ] = None,
    scaling: Annotated[bool, typer.Option(help="run the payments scaling test")] = True,
    out_dir: Annotated[Path, typer.Option(help="where JSON and markdown go")] = Path(
        "bench/results"
    ),
    work_dir: Annotated[Path, typer.Option(help="scratch space (servers, logs)")] = Path(
        ".rtw/bench"
    ),
    keep_work_dir: Annotated[bool, typer.Option(help="keep server files and logs")] = False,
) -> None:
    """Platform vs bare SDK: every variant in interleaved blocks, ratios and figures in
    bench/results/ (latest.json)."""
    import dataclasses

    from services.bench.profiles import PROFILES
    from services.bench.results import markdown
    from services.bench.run import run_bench
    from services.bench.variants import all_variants
    from services.runtime.devserver import DevServerError
    from services.runtime.local_stack import WorkerProcessError

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if profile not in PROFILES:
        typer.echo(f"rtw: unknown profile {profile!r}: choose {', '.join(PROFILES)}", err=True)
        raise typer.Exit(2)
    chosen = PROFILES[profile]
    if blocks is not None:
        chosen = dataclasses.replace(chosen, blocks=blocks)
    if not scaling:
        chosen = dataclasses.replace(chosen, scaling=())
    every = {v.name: v for v in all_variants(sandbox_off=True, encrypted=True)}
    picked = None
    if variants:
        names = [n.strip() for n in variants.split(",") if n.strip()]
        unknown = [n for n in names if n not in every]
        if unknown:
            typer.echo(f"rtw: unknown variants {unknown}: choose from {list(every)}", err=True)
            raise typer.Exit(2)
        picked = [every[n] for n in names]
    command = "rtw bench run --profile " + profile + (f" --blocks {blocks}" if blocks else "")
    command += (f" --variants {variants}" if variants else "") + (
        "" if scaling else " --no-scaling"
    )
    try:
        json_path, md_path, result = asyncio.run(
            run_bench(
                chosen,
                command=command,
                out_dir=out_dir,
                work_dir=work_dir,
                variants=picked,
                keep_work_dir=keep_work_dir,
            )
        )
    except (DevServerError, WorkerProcessError) as exc:
        typer.echo(f"rtw: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(markdown(result))
    typer.echo(f"wrote {json_path}, {md_path} and {out_dir / 'latest.json'}")


@bench_app.command("coldstart")
def coldstart(
    repeat: Annotated[int, typer.Option(min=1, help="starts per worker")] = 5,
    work_dir: Annotated[Path, typer.Option(help="scratch space")] = Path(".rtw/bench-coldstart"),
) -> None:
    """Seconds from spawn to first poll and RSS of each worker (rtw's three and bare SDK)."""
    from services.bench.coldstart import measure_cold_starts

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    result = asyncio.run(measure_cold_starts(repeat=repeat, work_dir=work_dir))
    typer.echo(json.dumps(result, indent=2))


@bench_app.command("readme")
def readme(
    latest: Annotated[Path, typer.Option(help="result to render")] = Path(
        "bench/results/latest.json"
    ),
    readme_path: Annotated[Path, typer.Option("--readme", help="file to update")] = Path(
        "README.md"
    ),
) -> None:
    """Regenerate the README's performance table from the latest `rtw bench run`."""
    from services.bench.readme import update_readme

    try:
        update_readme(readme_path, latest)
    except (OSError, ValueError, KeyError) as exc:
        typer.echo(f"rtw: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"updated {readme_path} from {latest}")


#: Options of the off-vs-on saga benchmarks (`tracing`, `versioning`, `codec`).
Sagas = Annotated[int, typer.Option(min=1, help="sagas per block (after warm-up)")]
Blocks = Annotated[int, typer.Option(min=2, help="blocks, alternating off/on")]
Concurrency = Annotated[int, typer.Option(min=1, help="sagas in flight")]
OutDir = Annotated[Path, typer.Option(help="where JSON and markdown go")]
RESULTS = Path("bench/results")


def _off_on(
    name: str,
    bench: Callable[..., Coroutine[Any, Any, tuple[Path, Path, dict[str, Any]]]],
    *,
    sagas: int,
    blocks: int,
    concurrency: int,
    out_dir: Path,
    work_dir: Path = Path(".rtw/bench"),
    show_report: bool = False,
) -> None:
    """Run one off-vs-on benchmark as `rtw bench NAME` and print its summary as JSON (or its
    markdown report); a stack that fails to start exits 1."""
    from services.bench.saga_blocks import BenchConfig
    from services.runtime.devserver import DevServerError
    from services.runtime.local_stack import WorkerProcessError

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    config = BenchConfig(
        sagas=sagas, blocks=blocks, concurrency=concurrency, out_dir=out_dir, work_dir=work_dir
    )
    command = f"rtw bench {name} --sagas {sagas} --blocks {blocks} --concurrency {concurrency}"
    try:
        json_path, md_path, summary = asyncio.run(bench(config, command=command))
    except (DevServerError, WorkerProcessError) as exc:
        typer.echo(f"rtw: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        md_path.read_text(encoding="utf-8") if show_report else json.dumps(summary, indent=2)
    )
    typer.echo(f"wrote {json_path} and {md_path}")


@bench_app.command("collector")
def collector(
    demo_runs: Annotated[int, typer.Option(min=1, help="`rtw demo` runs per variant")] = 3,
    sagas: Sagas = 40,
    blocks: Blocks = 6,
    concurrency: Concurrency = 16,
    out_dir: OutDir = RESULTS,
) -> None:
    """What a collector that does not answer costs: `rtw demo` wall time and saga
    throughput, tracing off vs OTEL_EXPORTER_OTLP_ENDPOINT where nothing listens (budget 10 %)."""
    from services.bench.collector import run_collector_bench

    async def bench(config: Any, *, command: str) -> tuple[Path, Path, dict[str, Any]]:
        return await run_collector_bench(
            config, demo_runs=demo_runs, command=f"{command} --demo-runs {demo_runs}"
        )

    _off_on(
        "collector",
        bench,
        sagas=sagas,
        blocks=blocks,
        concurrency=concurrency,
        out_dir=out_dir,
        show_report=True,
    )


@bench_app.command("tracing")
def tracing(
    sagas: Sagas = 80, blocks: Blocks = 6, concurrency: Concurrency = 16, out_dir: OutDir = RESULTS
) -> None:
    """Saga throughput and worker CPU per saga with tracing off vs on (interleaved blocks)."""
    from services.bench.tracing import run_tracing_bench

    _off_on(
        "tracing",
        run_tracing_bench,
        sagas=sagas,
        blocks=blocks,
        concurrency=concurrency,
        out_dir=out_dir,
    )


@bench_app.command("versioning")
def versioning(
    sagas: Sagas = 80, blocks: Blocks = 6, concurrency: Concurrency = 16, out_dir: OutDir = RESULTS
) -> None:
    """Saga throughput and worker CPU per saga with Worker Versioning off vs on."""
    from services.bench.versioning import run_versioning_bench

    _off_on(
        "versioning",
        run_versioning_bench,
        sagas=sagas,
        blocks=blocks,
        concurrency=concurrency,
        out_dir=out_dir,
    )


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
    sagas: Sagas = 60, blocks: Blocks = 4, concurrency: Concurrency = 16, out_dir: OutDir = RESULTS
) -> None:
    """Payload encryption's cost: the codec alone, and saga throughput with it off vs on."""
    from services.bench.codec import run_codec_bench

    _off_on(
        "codec",
        run_codec_bench,
        sagas=sagas,
        blocks=blocks,
        concurrency=concurrency,
        out_dir=out_dir,
        work_dir=Path(".rtw/bench-codec"),
        show_report=True,
    )


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


# `rtw bench events` and `rtw bench cost` register on bench_app when imported.
from services.bench import cli_orders  # noqa: E402, F401
