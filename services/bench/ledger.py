"""`rtw bench ledger`: the ledger's `record` round trip on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.chaos.postgres import TempPostgres
from services.payments import EntryKind, LedgerEntry, ledger_for
from services.payments.ledger import now_iso
from services.runtime.database import Database, PostgresDatabase, SqliteDatabase


def _entry(i: int, kind: EntryKind, parent: str | None = None) -> LedgerEntry:
    return LedgerEntry(
        key=f"bench-{i}:{kind.value}",
        order_id=f"bench-{i}",
        kind=kind,
        amount_cents=3000,
        currency="USD",
        provider_ref=f"ref-{i}",
        created_at=now_iso(),
        parent_key=parent,
    )


async def _measure(db: Database, records: int, concurrency: int) -> dict[str, Any]:
    ledger = ledger_for(db)
    for i in range(20):  # warm-up: connections, statement caches
        await ledger.record(_entry(-1 - i, EntryKind.AUTHORIZATION))
    timings: dict[str, list[float]] = {"authorization": [], "capture": []}
    for i in range(records):
        auth = _entry(i, EntryKind.AUTHORIZATION)
        t = time.perf_counter()
        await ledger.record(auth)
        timings["authorization"].append(time.perf_counter() - t)
        t = time.perf_counter()
        await ledger.record(_entry(i, EntryKind.CAPTURE, parent=auth.key))
        timings["capture"].append(time.perf_counter() - t)

    async def worker(offset: int) -> None:
        for i in range(offset, offset + records // concurrency):
            await ledger.record(_entry(100_000 + i, EntryKind.AUTHORIZATION))

    t = time.perf_counter()
    await asyncio.gather(*(worker(k * records) for k in range(concurrency)))
    elapsed = time.perf_counter() - t
    out: dict[str, Any] = {}
    for kind, samples in timings.items():
        ms = sorted(s * 1000 for s in samples)
        out[f"{kind}_p50_ms"] = round(statistics.median(ms), 3)
        out[f"{kind}_p99_ms"] = round(ms[int(len(ms) * 0.99) - 1], 3)
    out["records_per_s_concurrent"] = round(concurrency * (records // concurrency) / elapsed)
    return out


async def run_ledger_bench(*, records: int, concurrency: int) -> dict[str, Any]:
    """Both backends, same work: sequential authorize + capture records, then concurrent."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SqliteDatabase(Path(tmp) / "rtw.sqlite3")
        await sqlite.open()
        try:
            results["sqlite"] = await _measure(sqlite, records, concurrency)
        finally:
            await sqlite.close()
    server = TempPostgres(durable=True).start()
    try:
        pg = PostgresDatabase(server.create_database(), pool_size=concurrency)
        await pg.open()
        await pg.migrate()
        try:
            results["postgresql"] = await _measure(pg, records, concurrency)
        finally:
            await pg.close()
    finally:
        server.stop()
    return results


def write_ledger_results(
    results: dict[str, Any], *, out_dir: Path, command: str
) -> tuple[Path, Path]:
    """`ledger-<time>.json` and `.md` under `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"ledger-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(json.dumps({"command": command, **results}, indent=2) + "\n")
    keys = list(results["sqlite"])
    rows = [f"| {k} | {results['sqlite'][k]} | {results['postgresql'][k]} |" for k in keys]
    md_path.write_text(
        "\n".join(
            [
                "# Ledger `record` round trip, SQLite vs PostgreSQL (psycopg 3 + pool)",
                "",
                f"`{command}`; both on this machine, PostgreSQL over loopback TCP with "
                "default durability (fsync on), SQLite WAL with synchronous=NORMAL.",
                "",
                "| figure | SQLite | PostgreSQL |",
                "|---|---|---|",
                *rows,
                "",
            ]
        )
    )
    return json_path, md_path
