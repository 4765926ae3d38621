"""How long work looks on the terminal: a live bar on a terminal, plain lines otherwise (CI logs).

The library reports progress through callbacks and never asks whether stderr is a terminal;
the command picks one of these displays.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from zoo_cli.console import QUIET, err, verbosity


@contextmanager
def counter(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """Yield an `advance(n)` callback: a rich bar on a terminal, a line every 10 % otherwise,
    nothing with `-q`."""
    if verbosity() == QUIET:
        yield lambda n: None
        return
    if err.is_terminal:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn())
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)
        return
    state = {"done": 0, "next": max(1, total // 10), "started": time.perf_counter()}

    def advance(n: int) -> None:
        state["done"] += n
        if state["done"] >= state["next"] or state["done"] >= total:
            elapsed = time.perf_counter() - state["started"]
            err.print(f"{description}: {state['done']}/{total} ({100 * state['done'] // max(total, 1)} %, "
                      f"{elapsed:.1f} s)", markup=False, highlight=False)
            state["next"] = state["done"] + max(1, total // 10)

    yield advance


class FetchLines:
    """A download off a terminal: its notes (retries, waits, the summary) as plain lines."""

    def start(self, total: int | None, completed: int = 0) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass

    def note(self, message: str) -> None:
        err.print(message, markup=False, highlight=False)


class FetchBar(FetchLines):
    """A download on a terminal: a live bar with speed and time left; notes print above it."""

    def __init__(self, name: str):
        self.name = name
        self._bar: Any = None
        self._task: Any = None

    def start(self, total: int | None, completed: int = 0) -> None:
        if self._bar is None:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                 TransferSpeedColumn(), TimeRemainingColumn(), console=err, transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.name, total=total, completed=completed)
        else:
            self._bar.update(self._task, total=total, completed=completed)

    def advance(self, amount: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, amount)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


@contextmanager
def fetch_display(name: str) -> Iterator[FetchLines]:
    """The display of one file's download: a bar on a terminal, lines otherwise."""
    if not err.is_terminal:
        yield FetchLines()
        return
    bar = FetchBar(name)
    try:
        yield bar
    finally:
        bar.close()
