"""Execution backends: where the scheduler's tasks run (`--executor`, or $ZOO_EXECUTOR).

Each backend implements `zoo.pipeline.backends.base.Backend`; `open_backend` picks one by name:
`local` (threads and worker processes on this machine) or `dask://HOST:PORT` (a Dask cluster,
which needs the remote cache tier).
"""

from __future__ import annotations

from zoo.errors import ZooError
from zoo.pipeline.backends.base import Backend
from zoo.pipeline.events import EventCallback
from zoo.store.local import LocalStore

#: What `--executor` accepts.
EXECUTORS = "local or dask://HOST:PORT"
#: Environment variable naming the backend when `--executor` is not given.
EXECUTOR_ENV = "ZOO_EXECUTOR"


def open_backend(name: str, *, jobs: int, store: LocalStore, remote: str | None = None,
                 on_event: EventCallback | None = None) -> Backend:
    """The backend called `name`, running up to `jobs` tasks at once."""
    if name == "local":
        from zoo.pipeline.backends.local import LocalBackend

        return LocalBackend(jobs, on_event=on_event)
    if name.startswith("dask://"):
        from zoo.pipeline.backends.dask import DaskBackend

        return DaskBackend(name, store=store, remote=remote, on_event=on_event)
    raise ZooError(f"--executor {name}: no such backend; use {EXECUTORS}")
