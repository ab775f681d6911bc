"""An orchestration build that polls its queue but does not serve the queue's ping activity,
and an `rtw worker` that runs it: what a gate must stop.

`python -m tests.integration.unserved_build worker orchestration …` is `rtw worker` whose
orchestration worker registers `orchestration.ping` under another name (its other activities
and its workflows stay), so the activity task reaches this build's pollers and fails there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def main() -> None:
    """`rtw` with the orchestration worker's ping activity renamed."""
    from temporalio import activity

    from services.cli.app import main as rtw_main
    from services.orchestration import worker

    def renamed(queue: Any, *, store: Any) -> Callable[..., Any]:
        @activity.defn(name=f"{queue.value}.ping-renamed")
        async def ping(request: Any) -> None:
            """Not the activity the contract names."""

        return ping

    setattr(worker, "ping_activity_for", renamed)  # noqa: B010 (the test-only switch)
    rtw_main()


if __name__ == "__main__":
    main()
