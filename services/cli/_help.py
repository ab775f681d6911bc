"""Help texts shown whole: a docstring's lines are joined into paragraphs before typer lays
them out (typer keeps the docstring's own line breaks, which cut sentences mid-way)."""

from __future__ import annotations

import inspect
import re

import typer


def reflow(text: str) -> str:
    """Each paragraph of `text` on one line; paragraphs stay apart."""
    paragraphs = re.split(r"\n\s*\n", inspect.cleandoc(text))
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


def whole_help(app: typer.Typer) -> None:
    """Reflow the help of every command and group of `app`, and of its sub-apps."""
    if isinstance(app.info.help, str):
        app.info.help = reflow(app.info.help)
    for command in app.registered_commands:
        text = command.help or (inspect.getdoc(command.callback) if command.callback else None)
        if text:
            command.help = reflow(text)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            whole_help(group.typer_instance)
