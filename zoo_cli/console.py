"""Shared terminal output: one rich console for results, one for messages on stderr, and the
one verbosity setting every command takes (`-q/--quiet`, `-v/--verbose`).

Levels: quiet prints errors and requested JSON only (the exit status says the rest); normal adds
results, warnings and progress; verbose adds details (cached steps, every step of a summary).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import click
from rich.console import Console
from rich.markup import escape

from zoo.redaction import redact_text

QUIET, NORMAL, VERBOSE = -1, 0, 1

# Off a terminal (pipes, CI logs) rich would fold tables to 80 columns; give them room.
_WIDTH = None if sys.stdout.isatty() else 200
# No emoji codes: `file.yaml:100:` would otherwise print as `file.yaml💯`.
out = Console(highlight=False, soft_wrap=True, width=_WIDTH, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
_level = [NORMAL]


def verbosity() -> int:
    return _level[0]


def set_verbosity(level: int) -> None:
    """Quiet silences the results console too; JSON goes through `emit_json`, never silenced."""
    _level[0] = level
    out.quiet = level <= QUIET


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
    if verbosity() > QUIET:
        err.print(f"[yellow]warning:[/] {escape(message)}", markup=True, highlight=False)


def info(message: str) -> None:
    """A progress or status line on stderr, unless quiet."""
    if verbosity() > QUIET:
        err.print(message, markup=False, highlight=False)


def detail(message: str) -> None:
    """A line only `-v` asks for."""
    if verbosity() >= VERBOSE:
        err.print(message, markup=False, highlight=False)


def emit_json(document: Any) -> None:
    """The `--json` result of a command on stdout: one document, printed even with `-q`."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, default=_plain) + "\n")
    sys.stdout.flush()


def shown(path: Path) -> str:
    """`path` relative to the current folder when it lies below it (shorter, copy-pasteable)."""
    try:
        return Path(os.path.relpath(path)).as_posix() if Path(path).resolve().is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


def _plain(value: Any) -> Any:
    from decimal import Decimal
    from pathlib import PurePath

    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, PurePath):
        return value.as_posix()
    raise TypeError(f"cannot serialise {type(value).__name__}")


json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print the result as one JSON document (schema: README, Machine-readable output).")


def _setter(level: int) -> Any:
    def callback(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        if value:
            set_verbosity(level)

    return callback


def with_verbosity(command: click.Command) -> click.Command:
    """Give `command` (and a group's sub-commands) `-q/--quiet` and `-v/--verbose`, once."""
    if not any(p.name == "quiet" for p in command.params):
        command.params += [
            click.Option(["-q", "--quiet"], is_flag=True, expose_value=False, callback=_setter(QUIET),
                         help="Print only errors and requested JSON."),
            click.Option(["-v", "--verbose"], is_flag=True, expose_value=False, callback=_setter(VERBOSE),
                         help="Print details too (cached steps, every step of a summary)."),
        ]
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            with_verbosity(sub)
    return command
