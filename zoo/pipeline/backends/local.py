"""The local backend: light steps in threads of this process, heavy ones in worker processes.

Whether a task needs a worker is known from its step (`Step.heavy`) before anything else
happens. A heavy task first gets a cache lookup here, so that a warm run never starts a worker
(nor imports a framework); on a miss, `execute_node` runs inside a worker process, which
locks, runs and stores on its own. A worker that dies fails that task; the scratch folder it
leaves is removed here.

Threads are daemons: after Ctrl-C the process may exit while a light step (say, a download)
is still under way; its key lock dies with the process and the next run starts it again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future

from zoo.pipeline.backends.base import WorkerDied
from zoo.pipeline.backends.processes import WorkerPool
from zoo.pipeline.events import EventCallback, ignore
from zoo.pipeline.execute import cached_result, execute_node
from zoo.pipeline.task import NodeResult, Task
from zoo.store.local import LocalStore
from zoo.store.tiers import tier_for


class LocalBackend:
    """Runs up to `jobs` tasks at once on this machine (the scheduler submits no more)."""

    def __init__(self, jobs: int, on_event: EventCallback | None = None):
        self.capacity = jobs
        self._workers = WorkerPool(jobs)
        self._on_event: EventCallback = on_event or ignore
        self._stores: dict[str, LocalStore] = {}

    def submit(self, task: Task) -> Future[NodeResult]:
        return _in_thread(lambda: self._run(task), name=f"zoo {task.model.id} {task.kind}")

    def close(self, cancel: bool = False) -> None:
        """Stop the worker processes (killing busy ones: only done when the run is interrupted)."""
        self._workers.close()

    def __enter__(self) -> LocalBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, task: Task) -> NodeResult:
        store = self._stores.setdefault(task.store_root, LocalStore(task.store_root))
        tier = tier_for(store, task.remote)
        if not task.heavy:
            return execute_node(task, store, self._on_event, tier)
        cached = cached_result(task, store, tier, self._on_event)
        if cached is not None:
            return cached
        try:
            return self._workers.call(task, self._on_event)
        except WorkerDied:
            store.discard_work(task.key)
            raise


def _in_thread(work: Callable[[], NodeResult], *, name: str) -> Future[NodeResult]:
    """Run `work` in a daemon thread; its result or exception lands in the returned future."""
    future: Future[NodeResult] = Future()
    future.set_running_or_notify_cancel()

    def body() -> None:
        try:
            future.set_result(work())
        except BaseException as exc:  # noqa: BLE001 - the scheduler decides what a failure means
            future.set_exception(exc)

    threading.Thread(target=body, name=name, daemon=True).start()
    return future

