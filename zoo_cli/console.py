"""Shared terminal output: one rich console for results, one for messages on stderr."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape

from zoo.redaction import redact_text

# Off a terminal (pipes, CI logs) rich would fold tables to 80 columns; give them room.
_WIDTH = None if sys.stdout.isatty() else 200
# No emoji codes: `file.yaml:100:` would otherwise print as `file.yaml💯`.
out = Console(highlight=False, soft_wrap=True, width=_WIDTH, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


class RedactingStream:
    """A text stream that masks URL credentials in everything written to it (`zoo.redaction`):
    the one guarantee that no command prints a password or token, whichever code path prints."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact_text(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guard_streams() -> None:
    """Route stdout and stderr through `RedactingStream` (both consoles write to them)."""
    if not isinstance(sys.stdout, RedactingStream):
        sys.stdout = RedactingStream(sys.stdout)
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr)


def error(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)


def warning(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", markup=True, highlight=False)
