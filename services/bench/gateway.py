"""`rtw bench gateway`: HTTP load on the gateway from wrk (a second process, on loopback).

One fresh stack: the embedded dev server (fresh SQLite file), the three workers and the
gateway as processes, byte-compiled first. Two phases, each `duration` seconds of wrk:
`POST /orders` (every request a new order, so every one starts a saga) and then
`GET /orders/{id}` over the orders just created. Reported: requests/s, p50/p99 latency
(wrk's own, `--latency`), non-2xx answers, and CPU per request of the gateway and of the
orchestration worker, read from /proc/<pid>/stat. The POST phase counts the workers' CPU
until every saga it started has ended, so "orchestration CPU per order" is the whole saga's.
"""

from __future__ import annotations

import asyncio
import compileall
import json
import logging
import os
import platform
import re
import secrets
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from services.bench.procstat import cpu_seconds
from services.contracts import TaskQueue
from services.gateway.process import GatewayProcess
from services.runtime.config import TemporalSettings
from services.runtime.connection import connect
from services.runtime.devserver import DevServer, free_port
from services.runtime.local_stack import LocalStack

logger = logging.getLogger(__name__)

#: `services/`, byte-compiled before measuring (the workflow sandbox recompiles otherwise).
PACKAGE_DIR = Path(__file__).resolve().parents[1]

#: Counts answers by status; printed by wrk at the end as `status <code>: <count>` lines.
STATUS_COUNTER = """
statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      print(string.format("status %d: %d", status, count))
    end
  end
end
"""

POST_SCRIPT = (
    """
local counter = 0
local prefix = os.getenv("RTW_BENCH_PREFIX")
local token = os.getenv("RTW_BENCH_TOKEN")
request = function()
  counter = counter + 1
  local id = prefix .. "-" .. counter
  local body = '{"order_id":"' .. id .. '","customer_id":"c-bench","currency":"USD",' ..
    '"payment_method":"pm_card_visa","items":[{"sku":"sku-1","quantity":1,"unit_price_cents":1500}]}'
  return wrk.format("POST", "/orders", {
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = id,
    ["Content-Type"] = "application/json",
  }, body)
end
"""
    + STATUS_COUNTER
)

GET_SCRIPT = (
    """
local token = os.getenv("RTW_BENCH_TOKEN")
local ids = {}
for line in io.lines(os.getenv("RTW_BENCH_ORDER_IDS")) do table.insert(ids, line) end
math.randomseed(12)
request = function()
  local id = ids[math.random(1, #ids)]
  return wrk.format("GET", "/orders/" .. id, {["Authorization"] = "Bearer " .. token})
end
"""
    + STATUS_COUNTER
)


class WrkMissingError(RuntimeError):
    """wrk is not installed."""


@dataclass(frozen=True)
class GatewayBenchConfig:
    """What to run."""

    duration: int = 15
    connections: int = 16
    out_dir: Path = Path("bench/results")
    work_dir: Path = Path(".rtw/bench")


@dataclass
class PhaseResult:
    """One wrk run and the CPU it cost."""

    endpoint: str
    requests: int
    non_2xx: int
    statuses: dict[int, int]
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    gateway_cpu_ms_per_request: float
    orchestration_cpu_ms_per_request: float
    workers_cpu_ms_per_request: float


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if match is None:
        raise ValueError(f"not a wrk duration: {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests, non-2xx, requests/s and p50/p99 (ms) from `wrk --latency` output."""
    requests = re.search(r"(\d+) requests in", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    if not (requests and rate and p50 and p99):
        raise ValueError(f"cannot read wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    statuses = {int(code): int(n) for code, n in re.findall(r"^status (\d+): (\d+)$", output, re.M)}
    return {
        "statuses": statuses,
        "requests": int(requests.group(1)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "requests_per_second": float(rate.group(1)),
        "p50_ms": _ms(p50.group(1)),
        "p99_ms": _ms(p99.group(1)),
    }


async def _wrk(
    url: str, script: Path, config: GatewayBenchConfig, env: Mapping[str, str]
) -> tuple[dict[str, Any], str]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise WrkMissingError("wrk is missing: apt-get install wrk")
    proc = await asyncio.create_subprocess_exec(
        wrk, "-t1", f"-c{config.connections}", f"-d{config.duration}s", "--latency",
        "--timeout", "10s", "-s", str(script), url,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    text = out.decode()
    if proc.returncode != 0 or "status " not in text:  # a script error runs plain GETs
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{text}")
    return parse_wrk(text), text


def _cpu(pids: Mapping[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


async def _wait_for_sagas(address: str, task_queue: str, *, timeout: float = 300) -> list[str]:
    """Wait until no saga of the bench runs any more (so their CPU is counted); return the
    order ids that exist (a POST cut off by wrk's end may or may not have started one)."""
    client = await connect(TemporalSettings(address=address))
    sagas = f"TaskQueue = '{task_queue}' AND WorkflowType = 'OrderSaga'"
    async with asyncio.timeout(timeout):
        while (await client.count_workflows(f"{sagas} AND ExecutionStatus = 'Running'")).count:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
    return [w.id.removeprefix("order-") async for w in client.list_workflows(sagas)]


def _phase(
    endpoint: str, wrk: Mapping[str, Any], before: Mapping[str, float], after: Mapping[str, float]
) -> PhaseResult:
    served = max(int(wrk["requests"] - wrk["non_2xx"]), 1)

    def per_request(*names: str) -> float:
        return round(sum(after[n] - before[n] for n in names) / served * 1000, 3)

    return PhaseResult(
        endpoint=endpoint,
        requests=int(wrk["requests"]),
        non_2xx=int(wrk["non_2xx"]),
        statuses=dict(wrk["statuses"]),
        requests_per_second=wrk["requests_per_second"],
        p50_ms=round(wrk["p50_ms"], 2),
        p99_ms=round(wrk["p99_ms"], 2),
        gateway_cpu_ms_per_request=per_request("gateway"),
        orchestration_cpu_ms_per_request=per_request("orchestration"),
        workers_cpu_ms_per_request=per_request(*(q.value for q in TaskQueue)),
    )


async def run_gateway_bench(config: GatewayBenchConfig) -> list[PhaseResult]:
    """Both phases on one fresh stack."""
    await asyncio.to_thread(compileall.compile_dir, str(PACKAGE_DIR), quiet=1)
    work = config.work_dir / f"gateway-{uuid.uuid4().hex[:6]}"
    work.mkdir(parents=True)
    token = secrets.token_hex(16)
    (work / "tokens").write_text(token + "\n", encoding="utf-8")
    server = DevServer(data_dir=work, port=free_port(), ui_port=None)
    env = {"RTW_DATA_DIR": str(work), "RTW_LOG_LEVEL": "WARNING", "RTW_LOG_FORMAT": "json"}
    await server.start()
    stack = LocalStack(address=server.address, env=env, log_dir=work / "logs")
    gateway = GatewayProcess(
        port=free_port(),
        health_port=free_port(),
        env={
            **env,
            "TEMPORAL_ADDRESS": server.address,
            "RTW_GATEWAY_TOKENS_FILE": str(work / "tokens"),
            "RTW_GATEWAY_REQUEST_TIMEOUT_SECONDS": "10",
        },
        log_file=work / "logs" / "gateway.log",
    )
    (work / "post.lua").write_text(POST_SCRIPT, encoding="utf-8")
    (work / "get.lua").write_text(GET_SCRIPT, encoding="utf-8")
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    wrk_env = {"RTW_BENCH_PREFIX": prefix, "RTW_BENCH_TOKEN": token}
    try:
        await stack.start()
        await gateway.start()
        assert gateway.process is not None
        pids = {"gateway": gateway.process.pid}
        for queue, worker in stack.workers.items():
            assert worker.process is not None
            pids[queue.value] = worker.process.pid
        before = _cpu(pids)
        post, post_text = await _wrk(f"{gateway.url}/orders", work / "post.lua", config, wrk_env)
        order_ids = await _wait_for_sagas(server.address, TaskQueue.ORCHESTRATION.value)
        after = _cpu(pids)
        logger.warning("POST /orders:\n%s", post_text)
        results = [_phase("POST /orders", post, before, after)]
        ids_file = work / "order-ids"
        await asyncio.to_thread(ids_file.write_text, "\n".join(order_ids) + "\n")
        wrk_env["RTW_BENCH_ORDER_IDS"] = str(ids_file)
        before = _cpu(pids)
        got, get_text = await _wrk(gateway.url, work / "get.lua", config, wrk_env)
        after = _cpu(pids)
        logger.warning("GET /orders/{id}:\n%s", get_text)
        results.append(_phase("GET /orders/{id}", got, before, after))
    finally:
        await gateway.stop()
        await stack.stop()
        await server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return results


def _markdown(meta: Mapping[str, Any], phases: list[PhaseResult]) -> str:
    lines = [
        "# Gateway under HTTP load",
        "",
        f"- when: {meta['started_at']}; machine: {meta['machine']} ({meta['cpus']} CPUs)",
        f"- command: `{meta['command']}`",
        f"- wrk from a second process on loopback, 1 thread, {meta['connections']} connections, "
        f"{meta['duration']} s per phase; one fresh dev server (tuned, SQLite), the three workers "
        "and the gateway as processes, byte-compiled. Every POST is a new order (a saga runs to "
        "completion); the POST phase's worker CPU is read once every saga has ended",
        "",
        "| endpoint | requests | statuses | req/s | p50 ms | p99 ms | gateway CPU ms/req "
        "| orchestration CPU ms/req | all workers CPU ms/req |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in phases:
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(p.statuses.items()))
        lines.append(
            f"| {p.endpoint} | {p.requests} | {statuses} | {p.requests_per_second} | "
            f"{p.p50_ms} | {p.p99_ms} | {p.gateway_cpu_ms_per_request} | "
            f"{p.orchestration_cpu_ms_per_request} | {p.workers_cpu_ms_per_request} |"
        )
    post = phases[0]
    ratio = post.gateway_cpu_ms_per_request / max(post.orchestration_cpu_ms_per_request, 1e-9)
    lines += [
        "",
        f"Gateway CPU per order is {ratio:.2f}x the orchestration worker's "
        f"({post.gateway_cpu_ms_per_request} vs {post.orchestration_cpu_ms_per_request} ms).",
    ]
    return "\n".join(lines) + "\n"


def write_gateway_results(
    phases: list[PhaseResult], config: GatewayBenchConfig, *, command: str, started: datetime
) -> tuple[Path, Path]:
    """bench/results/gateway-<time>.json and .md."""
    meta = {
        "started_at": started.isoformat(timespec="seconds"),
        "command": command,
        "machine": f"{platform.system()} {platform.machine()} Python {platform.python_version()}",
        "cpus": os.cpu_count(),
        "duration": config.duration,
        "connections": config.connections,
    }
    config.out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"gateway-{started.strftime('%Y%m%dT%H%M%SZ')}"
    json_path, md_path = config.out_dir / f"{stem}.json", config.out_dir / f"{stem}.md"
    payload = {"meta": meta, "phases": [asdict(p) for p in phases]}
    json_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(_markdown(meta, phases), encoding="utf-8")
    return json_path, md_path
