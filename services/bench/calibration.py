"""A fixed CPU loop timed during every phase: how fast a CPU second was on this shared
machine then, so that CPU figures can be reported speed-normalised as well as raw."""

from __future__ import annotations

import statistics
import threading
import time
from types import TracebackType

#: Work of one calibration loop (about 5-10 ms of CPU on the CI machines).
LOOP_ITERATIONS = 60_000
#: Pause between loops (the loop's own CPU is subtracted from the driver's).
INTERVAL_SECONDS = 0.25


def calibration_loop() -> float:
    """Run the fixed loop once; the CPU milliseconds it took on this thread."""
    began = time.thread_time()
    total = 0
    for i in range(LOOP_ITERATIONS):
        total += (i * i) % 7
    return (time.thread_time() - began) * 1000


class Calibrator:
    """`with Calibrator() as c:` times the loop in a background thread until exit;
    `c.loop_ms` is the median CPU ms of one loop, `c.cpu_seconds` what the loops used."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rtw-calibration", daemon=True)

    def _run(self) -> None:
        self.samples.append(calibration_loop())
        while not self._stop.wait(INTERVAL_SECONDS):
            self.samples.append(calibration_loop())

    def __enter__(self) -> Calibrator:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def loop_ms(self) -> float:
        """Median CPU milliseconds of one loop in this phase."""
        return statistics.median(self.samples) if self.samples else 0.0

    @property
    def cpu_seconds(self) -> float:
        """CPU seconds the loops themselves used (to subtract from the driver's)."""
        return sum(self.samples) / 1000
