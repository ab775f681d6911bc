"""`rtw bench codec`: what payload encryption costs, measured in one run.

Two measurements: the codec alone (encode + decode of a typical order payload, in process),
and whole sagas with encryption off vs on, in interleaved blocks on fresh servers and workers
(`services.bench.saga_blocks`; the client starting the sagas encrypts too). Modules are
byte-compiled first, so neither variant pays for it.
"""

from __future__ import annotations

import compileall
import os
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.converter import DataConverter

from services.bench.off_on import compare, run_meta, write_report
from services.bench.saga_blocks import BenchConfig, BlockResult, run_blocks
from services.contracts import OrderInput
from services.runtime.codec import KEYS_FILE_VARIABLE, EncryptionCodec, KeyRing
from services.runtime.keyfiles import add_key

VARIANTS = ("off", "on")
SERVICES_DIR = Path(__file__).resolve().parents[1]
#: Block figures the codec report leaves out.
_NOT_REPORTED = ("worker_cpu_seconds", "spans_exported")


def order(block: str, index: int) -> OrderInput:
    """A representative order (two lines, a customer and a payment method)."""
    return OrderInput.model_validate(
        {
            "order_id": f"bc-{block}-{index}",
            "customer_id": "c-bench-0001",
            "currency": "USD",
            "payment_method": "pm_card_visa",
            "items": [
                {"sku": "sku-1", "quantity": 2, "unit_price_cents": 1500},
                {"sku": "sku-2", "quantity": 1, "unit_price_cents": 990},
            ],
        }
    )


async def measure_codec(rounds: int) -> dict[str, float]:
    """Microseconds to encrypt and to decrypt one order payload, and the size overhead."""
    codec = EncryptionCodec(KeyRing(active="k1", keys={"k1": os.urandom(32)}))
    [payload] = await DataConverter.default.encode([order("codec", 0).model_dump(mode="json")])
    began = time.perf_counter()
    for _ in range(rounds):
        sealed = await codec.encode([payload])
    encode_us = (time.perf_counter() - began) / rounds * 1e6
    began = time.perf_counter()
    for _ in range(rounds):
        await codec.decode(sealed)
    decode_us = (time.perf_counter() - began) / rounds * 1e6
    return {
        "encode_us_per_payload": round(encode_us, 2),
        "decode_us_per_payload": round(decode_us, 2),
        "plain_bytes": payload.ByteSize(),
        "encrypted_bytes": sealed[0].ByteSize(),
    }


def summarize(blocks: Sequence[BlockResult]) -> dict[str, Any]:
    """Per-variant medians and the relative cost of encryption."""
    return compare(blocks, off="off", on="on", cost="encryption_cost")


def markdown(meta: dict[str, Any], micro: dict[str, float], summary: dict[str, Any]) -> str:
    """The results as a short markdown report."""
    cost = summary["encryption_cost"]
    lines = [
        "# Payload encryption on vs off",
        "",
        f"- when: {meta['started_at']}; machine: {meta['machine']} ({meta['cpus']} CPUs)",
        f"- command: `{meta['command']}`",
        f"- machine load (1-minute average) at start and end: {meta['load_average_1m'][0]}, "
        f"{meta['load_average_1m'][1]} (other work on the machine is noise in both variants)",
        f"- {meta['sagas']} sagas per block after {meta['warmup']} warm-up sagas, concurrency "
        f"{meta['concurrency']}, {meta['blocks']} interleaved blocks, each on a fresh dev server "
        "and fresh worker processes; modules byte-compiled first",
        "",
        f"Codec alone (one order payload, {micro['plain_bytes']} bytes → "
        f"{micro['encrypted_bytes']} bytes encrypted): encode {micro['encode_us_per_payload']} µs, "
        f"decode {micro['decode_us_per_payload']} µs.",
        "",
        "| encryption | sagas/s (median) | worker CPU ms/saga (median) | p50 latency ms |",
        "|---|---|---|---|",
    ]
    for variant in VARIANTS:
        s = summary[variant]
        lines.append(
            f"| {variant} | {s['sagas_per_second_median']} | {s['cpu_ms_per_saga_median']} | "
            f"{s['p50_latency_ms_median']} |"
        )
    lines += [
        "",
        f"Encryption on: throughput {cost['throughput_change_pct']:+}%, worker CPU per saga "
        f"{cost['cpu_per_saga_change_pct']:+}%, p50 latency {cost['p50_latency_change_pct']:+}%.",
    ]
    return "\n".join(lines) + "\n"


async def run_codec_bench(
    config: BenchConfig, *, command: str, codec_rounds: int = 2000
) -> tuple[Path, Path, dict[str, Any]]:
    """Measure, write JSON and markdown under `config.out_dir`, return their paths."""
    compileall.compile_dir(str(SERVICES_DIR), quiet=1)
    started = datetime.now(UTC)
    load_before = os.getloadavg()[0]
    micro = await measure_codec(codec_rounds)
    with tempfile.TemporaryDirectory(prefix="rtw-bench-codec-") as keys_dir:
        keys = Path(keys_dir) / "keys.json"
        add_key(keys, "bench-1", activate=True)
        blocks = await run_blocks(config, {"off": {}, "on": {KEYS_FILE_VARIABLE: str(keys)}})
    summary = summarize(blocks)
    meta = {
        **run_meta(config, started=started, command=command),
        "blocks": config.blocks,
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    payload = {
        "meta": meta,
        "codec": micro,
        "summary": summary,
        "blocks": [b.record(without=_NOT_REPORTED) for b in blocks],
    }
    json_path, md_path = write_report(
        config.out_dir,
        "codec",
        started=started,
        payload=payload,
        markdown=markdown(meta, micro, summary),
    )
    return json_path, md_path, summary
