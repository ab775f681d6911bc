"""A process on a real pseudo-terminal, as a person's shell runs it: it leads its own session
with the terminal as controlling tty, so writing Ctrl+C (\\x03) to the terminal makes the
kernel send SIGINT to its whole foreground process group."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

#: Become a session leader with the pty as controlling terminal (stdin/out/err), then exec.
_LOGIN = (
    "import os, sys; os.login_tty(os.open(sys.argv[1], os.O_RDWR)); "
    "os.execvp(sys.argv[2], sys.argv[2:])"
)

CTRL_C = b"\x03"


class Terminal:
    """`argv` running on a fresh pty; everything it prints is collected in `output`."""

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> None:
        self._master, self._slave = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-c", _LOGIN, os.ttyname(self._slave), *argv],
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # The slave stays open here too: without any open slave, reading the master fails
        # (EIO) before the child has opened its end.
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 4096)
            except OSError:  # EIO: the terminal's last user is gone
                return
            if not chunk:
                return
            self._chunks.append(chunk)

    @property
    def output(self) -> str:
        """What the terminal showed so far (CR LF as LF)."""
        return b"".join(self._chunks).decode(errors="replace").replace("\r\n", "\n")

    def wait_for(self, text: str, *, timeout: float) -> None:
        """Block until `text` was printed; fail with the output if it was not in time."""
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise AssertionError(f"exited {code} before {text!r}:\n{self.output}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} after {timeout}s:\n{self.output}")
            time.sleep(0.05)

    def press_ctrl_c(self) -> None:
        """Type Ctrl+C: the terminal sends SIGINT to its foreground process group."""
        os.write(self._master, CTRL_C)

    def wait(self, *, timeout: float) -> int:
        """The exit code (the process is killed, and the test fails, after `timeout`)."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"still running after {timeout}s:\n{self.output}") from None

    def close(self) -> None:
        """Stop the process if it still runs (Ctrl+C first, so that the children it started
        in sessions of their own stop too; killed after a minute); close the terminal."""
        if self.process.poll() is None:
            self.press_ctrl_c()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        os.close(self._slave)
        os.close(self._master)
        self._reader.join(5)
