"""A deliberately non-replay-compatible OrderSaga, and an `rtw worker` that runs it.

`python -m tests.integration.breaking_saga worker orchestration …` is `rtw worker` with
this saga registered instead of the real one: the test-only switch of the versioning tests.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import VersioningBehavior

with workflow.unsafe.imports_passed_through():
    from services.contracts import ORDER_SAGA_WORKFLOW, OrderStatus
    from services.orchestration.order_saga import OrderSaga


@workflow.defn(name=ORDER_SAGA_WORKFLOW, versioning_behavior=VersioningBehavior.PINNED)
class BreakingOrderSaga(OrderSaga):
    """OrderSaga with a timer before its first step: replaying a history recorded by the
    real saga fails (the history has no such timer), exactly what an unpatched change does."""

    @workflow.run
    async def run(self, *args: Any) -> OrderStatus:
        """A short timer, then the real saga."""
        await workflow.sleep(timedelta(milliseconds=10))
        return await super().run(*args)


def main() -> None:
    """`rtw` with the breaking saga in the orchestration worker's workflow list."""
    from services.cli.app import main as rtw_main
    from services.orchestration import worker

    worker.WORKFLOWS[:] = [
        BreakingOrderSaga if cls is OrderSaga else cls for cls in worker.WORKFLOWS
    ]
    rtw_main()


if __name__ == "__main__":
    from tests.integration.breaking_saga import main as imported_main  # the importable class

    imported_main()
