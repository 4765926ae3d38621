"""Execution backends: where the scheduler's tasks run (`--executor`, or $ZOO_EXECUTOR).

Each backend implements `zoo.pipeline.backends.base.Backend`; `open_backend` picks one by name.
"""

from __future__ import annotations

from zoo.pipeline.backends.base import Backend
from zoo.pipeline.events import EventCallback

#: Names `--executor` accepts.
EXECUTORS = ("local",)
#: Environment variable naming the backend when `--executor` is not given.
EXECUTOR_ENV = "ZOO_EXECUTOR"


def open_backend(name: str, *, jobs: int, on_event: EventCallback | None = None) -> Backend:
    """The backend called `name`, running up to `jobs` tasks at once."""
    if name == "local":
        from zoo.pipeline.backends.local import LocalBackend

        return LocalBackend(jobs, on_event=on_event)
    from zoo.errors import ZooError

    raise ZooError(f"--executor {name}: no such backend; choose one of {', '.join(EXECUTORS)}")
