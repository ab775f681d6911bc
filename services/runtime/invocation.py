"""How a person runs `rtw` on this machine, for the commands that messages suggest (kept free
of heavy imports: every `rtw` process loads it)."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path


def rtw_command() -> str:
    """The `rtw` command as a person can type it here: `rtw` when that is on PATH, else the
    console script next to this interpreter (`.venv/bin/rtw` from the checkout), else
    `python -m services`. Every command a message suggests starts with it."""
    script = Path(sys.executable).parent / "rtw"
    if not script.exists():
        return f"{shlex.quote(sys.executable)} -m services"
    on_path = shutil.which("rtw")
    if on_path is not None and Path(on_path).resolve() == script.resolve():
        return "rtw"
    try:
        relative = script.relative_to(Path.cwd())
    except ValueError:
        return shlex.quote(str(script))
    return shlex.quote(str(relative) if relative.parent != Path() else f"./{relative}")
