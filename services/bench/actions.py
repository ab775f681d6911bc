"""Billable actions as the Temporal server counts them: its `action` metric (Prometheus text
on `temporal server start-dev --metrics-port`), read before and after what is measured.

The server emits one `action{action_type=…, namespace=…}` counter per kind of billable
operation (temporal server, common/rpc/interceptor/telemetry.go `emitActionMetric`): starts,
activities, one `command_BatchMarkers` per workflow task that records local-activity markers,
timers, signals, queries, update acceptances and rejections, heartbeats, child starts (two:
`command_StartChildWorkflowExecution` and its `_Extra`).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiohttp

from services.runtime.devserver import SEARCH_ATTRIBUTES, DevServer, free_port

#: One sample of the counter: `action{label="value",…} 12`.
_SAMPLE = re.compile(r"^action\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

#: The namespace rtw's workflows (and the Worker Deployments' bookkeeping) run in.
DEFAULT_NAMESPACE = "default"

#: Counts by (namespace, action type).
Actions = Counter[tuple[str, str]]


def parse_actions(text: str) -> Actions:
    """The `action` counters of a Prometheus text exposition, by namespace and action type.

    Action types are normalised to `_` where the server writes `:`
    (`message_UpdateWorkflowExecution:Acceptance` in newer servers, `_Acceptance` in older).
    """
    found: Actions = Counter()
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if match is None:
            continue
        labels = dict(_LABEL.findall(match.group("labels")))
        action_type = labels.get("action_type", "unknown").replace(":", "_")
        found[(labels.get("namespace", ""), action_type)] += int(float(match.group("value")))
    return found


def delta(before: Actions, after: Actions, *, namespace: str | None = None) -> dict[str, int]:
    """Actions added between two readings, by action type (one namespace, or all)."""
    added: Counter[str] = Counter()
    for (ns, action_type), value in after.items():
        if namespace is not None and ns != namespace:
            continue
        if (change := value - before.get((ns, action_type), 0)) != 0:
            added[action_type] += change
    return dict(sorted(added.items()))


def by_namespace(before: Actions, after: Actions) -> dict[str, int]:
    """Actions added between two readings, by namespace."""
    added: Counter[str] = Counter()
    for (ns, action_type), value in after.items():
        added[ns] += value - before.get((ns, action_type), 0)
    return {ns: n for ns, n in sorted(added.items()) if n}


class MeteredDevServer(DevServer):
    """The tuned dev server, serving its Prometheus metrics on `metrics_port` too; with
    `search_attributes` False, without rtw's order search attributes (the sagas then
    publish no state: what those upserts cost is the difference)."""

    def __init__(
        self,
        *,
        data_dir: Path,
        metrics_port: int | None = None,
        dynamic_config: Sequence[str] = (),
        search_attributes: bool = True,
    ) -> None:
        super().__init__(
            data_dir=data_dir, port=free_port(), ui_port=None, dynamic_config=dynamic_config
        )
        self.metrics_port = metrics_port if metrics_port is not None else free_port()
        self.search_attributes = search_attributes

    @property
    def metrics_url(self) -> str:
        """Where the server's Prometheus text is."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def command(self) -> list[str]:
        """The dev server's command with `--metrics-port` (and maybe without the order
        search attributes)."""
        command = super().command()
        if not self.search_attributes:
            command = [arg for arg in command if arg not in SEARCH_ATTRIBUTES]
        return [*command, "--metrics-port", str(self.metrics_port)]


class ActionMeter:
    """Reads a server's `action` counters; `settled()` waits until they stop moving."""

    def __init__(self, url: str, *, session: aiohttp.ClientSession) -> None:
        self._url = url
        self._session = session

    async def read(self) -> Actions:
        """The counters now."""
        async with self._session.get(self._url, timeout=aiohttp.ClientTimeout(total=10)) as r:
            r.raise_for_status()
            return parse_actions(await r.text())

    async def settled(
        self, *, quiet: float = 1.0, limit: float = 120.0, interval: float = 0.25
    ) -> Actions:
        """The counters once they have not changed for `quiet` seconds (background work of
        the server, such as Worker Deployment bookkeeping, has finished); after `limit`
        seconds, whatever they are. The server adds actions to what it exports once a second
        (a tally root scope reporting every second, temporal server common/metrics/config.go),
        so `quiet` must be longer than that."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        last = await self.read()
        still_since = loop.time()
        while loop.time() - began < limit:
            await asyncio.sleep(interval)
            now = await self.read()
            if now != last:
                last, still_since = now, loop.time()
            elif loop.time() - still_since >= quiet:
                break
        return last


def total(counts: Mapping[str, int]) -> int:
    """All actions of a breakdown."""
    return sum(counts.values())
