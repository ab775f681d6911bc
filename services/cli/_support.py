"""Helpers shared by the `rtw` command modules."""

from __future__ import annotations

import json
from typing import Any

import typer
from pydantic import ValidationError

from services.runtime.config import Settings, load_settings


def settings_or_exit() -> Settings:
    """The process settings, or exit 2 with the message naming the bad variable."""
    try:
        return load_settings()
    except ValidationError as exc:
        typer.echo(f"rtw: invalid configuration:\n{exc}", err=True)
        raise typer.Exit(2) from None


def print_json(data: Any) -> None:
    """Pretty, stable JSON on stdout."""
    typer.echo(json.dumps(data, indent=2, sort_keys=True))
