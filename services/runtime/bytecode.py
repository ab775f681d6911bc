"""Byte-compile rtw's sources before workers start.

With `PYTHONDONTWRITEBYTECODE=1` (common on CI machines) and an editable install, Python
never writes `.pyc` for `services/`, so every worker start, and the workflow sandbox on
every workflow run, compiles the workflow modules from source again. Compiling once
up front lets them load the cached byte-code.
"""

from __future__ import annotations

import compileall
import logging
from pathlib import Path

import services

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(services.__file__).resolve().parent


def compile_services() -> str:
    """Write missing or stale `.pyc` files for `services/`; a line saying what happened."""
    try:
        ok = compileall.compile_dir(str(PACKAGE_DIR), quiet=1, workers=1)
    except OSError as exc:  # a read-only install (the image compiles at build time)
        logger.info("byte-compiling %s skipped: %s", PACKAGE_DIR, exc)
        return f"skipped ({exc.__class__.__name__})"
    return f"{PACKAGE_DIR} compiled" if ok else f"{PACKAGE_DIR} compiled with errors"
