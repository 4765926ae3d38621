"""Shared terminal output: one rich console for results, one for messages on stderr."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape

# Off a terminal (pipes, CI logs) rich would fold tables to 80 columns; give them room.
_WIDTH = None if sys.stdout.isatty() else 200
# No emoji codes: `file.yaml:100:` would otherwise print as `file.yaml💯`.
out = Console(highlight=False, soft_wrap=True, width=_WIDTH, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def error(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)


def warning(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", markup=True, highlight=False)
