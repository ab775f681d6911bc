"""One shutdown per Ctrl+C for a process that owns children (`rtw dev`, `rtw demo`).

The children run in sessions of their own (`child_process.spawn_rtw`, `DevServer`), so a
terminal's SIGINT reaches only the owner. The owner's first SIGINT, SIGTERM or SIGHUP stops
its work and then each child with one SIGTERM (each drains); a second signal forces: the
children are signalled again and exit at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

#: What a person calls each signal in a message.
SIGNAL_WORDS = {
    signal.SIGINT: "Ctrl+C",
    signal.SIGTERM: "SIGTERM",
    signal.SIGHUP: "SIGHUP (terminal closed)",
}


class StopSignals:
    """Turns the first stop signal into one orderly stop and a second into a forced one.

    Args:
        stopping: the line printed on the first signal, given the signal's words.
        forcing: the line printed on the second signal, given the signal's words.
        say: where lines go (stdout by default).
    """

    def __init__(
        self,
        *,
        stopping: Callable[[str], str],
        forcing: Callable[[str], str],
        say: Callable[[str], None] | None = None,
    ) -> None:
        self._stopping = stopping
        self._forcing = forcing
        self._say = say or (lambda line: print(line, flush=True))
        self._requested = asyncio.Event()
        self._force: list[Callable[[], None]] = []
        self.received: str | None = None
        self._count = 0

    def on_force(self, callback: Callable[[], None]) -> None:
        """Run `callback` when a second signal asks to force the stop."""
        self._force.append(callback)

    def _handle(self, signum: signal.Signals) -> None:
        self._count += 1
        words = SIGNAL_WORDS.get(signum, signum.name)
        if self._count == 1:
            self.received = words
            self._requested.set()
            self._tell(self._stopping(words))
        elif self._count == 2:
            for callback in self._force:
                callback()
            self._tell(self._forcing(words))

    def _tell(self, line: str) -> None:
        """Say `line`; a terminal that is gone (SIGHUP) must not stop the stop."""
        with contextlib.suppress(OSError):
            self._say(line)

    async def run(self, main: Coroutine[Any, Any, T]) -> T | None:
        """Run `main` with the handlers installed; on the first signal cancel it and wait
        while its clean-up (stopping the children) runs. None when a signal stopped it."""
        loop = asyncio.get_running_loop()
        for signum in SIGNAL_WORDS:
            loop.add_signal_handler(signum, self._handle, signum)
        work = asyncio.ensure_future(main)
        stop = asyncio.ensure_future(self._requested.wait())
        try:
            await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
            if work.done():
                return work.result()
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            return None
        finally:
            stop.cancel()
            for signum in SIGNAL_WORDS:
                loop.remove_signal_handler(signum)
