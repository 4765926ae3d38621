"""What happens during a run, as events for progress displays and JSON logs.

Events come from the scheduler (a run starts, a step finishes, a model is published), from
`execute_node` wherever it runs (a step starts, waits for another process, reports progress),
and are handed to one callback that the command chose.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    """One thing that happened during a run."""

    #: run_waiting | run_started | step_started | step_waiting | step_progress | step_note |
    #: step_finished | model_finished | interrupted
    event: str
    model: str | None = None
    step: str | None = None
    status: str | None = None
    seconds: float | None = None
    message: str | None = None
    #: Units of work in all (steps of a run, bytes of a download, images of an evaluation).
    total: int | None = None
    #: Units of work done so far (step_progress).
    completed: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


EventCallback = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The listener of a run nobody watches."""


class EventSink:
    """Hands events to a callback from any thread, one at a time.

    A broken display (say, a log pipe that closed) never fails a step: its OSError is dropped.
    """

    def __init__(self, callback: EventCallback | None):
        self._callback = callback
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if self._callback is None:
            return
        with self._lock:
            try:
                self._callback(event)
            except OSError:
                pass
