"""The `rtw` command line: one module per command group, assembled in `app.py`."""

from services.cli.app import app, main

__all__ = ["app", "main"]
