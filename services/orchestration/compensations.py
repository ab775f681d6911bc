"""A compensation stack for sagas: register before each step, unwind in reverse."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

Compensation = Callable[[], Awaitable[object]]


@dataclass
class Compensations:
    """Undo actions in registration order; `unwind` runs them last-first, once."""

    _stack: list[tuple[str, Compensation]] = field(default_factory=list)

    def register(self, name: str, undo: Compensation) -> None:
        """Register `undo` before starting the step it reverses (it must be a safe no-op
        if the step never took effect)."""
        self._stack.append((name, undo))

    async def unwind(self, on_done: Callable[[str], None], *, skip: Collection[str] = ()) -> None:
        """Run every registered compensation in reverse; `on_done(name)` after each.

        Names in `skip` are dropped without running (e.g. stock that physically left).
        """
        while self._stack:
            name, undo = self._stack.pop()
            if name in skip:
                continue
            await undo()
            on_done(name)
