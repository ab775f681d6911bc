"""Starts sagas of one variant and waits for their results, N at a time."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError

from services.bench.bare_activities import BareSagaInput
from services.bench.bare_same_shape import BARE_START_ATTRIBUTES
from services.bench.variants import Variant
from services.contracts import OrderInput, OrderState
from services.orchestration.client import start_order

#: Which final state counts as success, by card.
EXPECTED_STATE = {
    "pm_card_visa": OrderState.COMPLETED,
    "pm_card_chargeDeclined": OrderState.COMPENSATED,
}


@dataclass
class Batch:
    """What one batch measured."""

    latencies_ms: list[float] = field(default_factory=list)
    failures: int = 0
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        """Sagas finished per second of wall time."""
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0


def order(order_id: str, payment_method: str, *, unit_price_cents: int = 1500) -> OrderInput:
    """A one-item order (above the approval threshold when `unit_price_cents` is large)."""
    return OrderInput.model_validate(
        {
            "order_id": order_id,
            "customer_id": "c-bench",
            "currency": "USD",
            "payment_method": payment_method,
            "items": [{"sku": "sku-1", "quantity": 1, "unit_price_cents": unit_price_cents}],
        }
    )


class Driver:
    """Runs `variant`'s sagas with ids `<tag>-<n>` on the `<prefix>orchestration` queue.

    Bare variants use a plain client; the platform goes through rtw's client (its plugin,
    converter and `start_order`), as an rtw user would.
    """

    def __init__(
        self, variant: Variant, *, prefix: str, tag: str, bare: Client, platform: Client
    ) -> None:
        self.variant = variant
        self._queue = prefix + "orchestration"
        self._tag = tag
        self._bare = bare
        self._platform = platform

    def saga_id(self, index: int) -> str:
        """The business id of saga `index`."""
        return f"{self._tag}-{index}"

    def workflow_ids(self, index: int) -> list[str]:
        """The saga's workflow id and its child's."""
        saga = self.saga_id(index)
        own = f"order-{saga}" if self.variant.platform else f"bare-{saga}"
        child = [self.variant.child_prefix + saga] if self.variant.child_prefix else []
        return [own, *child]

    async def one(self, index: int) -> bool:
        """Run one saga to its end; True when it ended as expected."""
        if self.variant.platform:
            started = await start_order(
                self._platform,
                order(self.saga_id(index), self.variant.payment_method),
                task_queue=self._queue,
            )
            if not started.created:  # an earlier run's saga: nothing was measured
                return False
            status = await started.handle.result()
            return status.state is EXPECTED_STATE[self.variant.payment_method]
        result: str = await self._bare.execute_workflow(
            self.variant.workflow,
            BareSagaInput(saga_id=self.saga_id(index)),
            id=self.workflow_ids(index)[0],
            task_queue=self._queue,
            result_type=str,
            search_attributes=BARE_START_ATTRIBUTES.get(self.variant.workflow),
        )
        return result == self.saga_id(index)

    async def batch(self, first: int, count: int, concurrency: int) -> Batch:
        """Run sagas `first`… `first+count-1`, at most `concurrency` in flight."""
        gate = asyncio.Semaphore(concurrency)
        out = Batch()

        async def run(index: int) -> None:
            async with gate:
                began = time.perf_counter()
                try:
                    ok = await self.one(index)
                except Exception:
                    ok = False
                if ok:
                    out.latencies_ms.append((time.perf_counter() - began) * 1000)
                else:
                    out.failures += 1

        began = time.perf_counter()
        await asyncio.gather(*(run(i) for i in range(first, first + count)))
        out.seconds = time.perf_counter() - began
        return out

    async def event_types(self, index: int) -> dict[str, int]:
        """How many events of each type the histories of saga `index` and its child hold."""
        counts: dict[str, int] = {}
        for workflow_id in self.workflow_ids(index):
            try:
                history = await self._bare.get_workflow_handle(workflow_id).fetch_history()
            except RPCError:
                continue  # no child on this path
            for event in history.events:
                name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
                counts[name] = counts.get(name, 0) + 1
        return dict(sorted(counts.items()))
