"""Reusable worker processes that run `execute_node` for heavy steps, one task at a time.

Workers are started with "spawn" (no inherited locks or framework state) and reused, so torch
is imported once per worker. Each opens the store itself from the task's store root and
sends the node's events back over its pipe while it runs. A worker that dies (a crash,
`os._exit`, the out-of-memory killer) fails only the task it was running, with a message
saying how it died; the next task gets a fresh worker.

Workers ignore Ctrl-C (the parent decides what it stops), leave each framework
`cpu_count / size` threads (so N workers do not each use every core), and exit when their
parent is gone: an orphan holds no locks worth keeping and must stop writing.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import traceback
from multiprocessing.connection import Connection, wait
from typing import Any

from zoo.errors import StepError, ZooError
from zoo.pipeline.backends.base import NodeFailed, WorkerDied
from zoo.pipeline.events import Event, EventCallback
from zoo.pipeline.task import NodeResult, Task

#: Seconds between checks that the parent of a worker process is still alive.
_WATCHDOG_PERIOD = 1.0


class WorkerPool:
    """Up to `size` reusable worker processes; a dead worker is replaced by a fresh one."""

    def __init__(self, size: int):
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._threads = max(1, (os.cpu_count() or 1) // size)

    def call(self, task: Task, on_event: EventCallback) -> NodeResult:
        """Run `task` in a worker and return its result; events go to `on_event` meanwhile."""
        with self._lock:
            worker = self._idle.pop() if self._idle and not self._closed else None
        if worker is None:
            worker = _Worker(self._threads)  # outside the lock: spawning takes a moment
        with self._lock:
            if self._closed:
                worker.stop()
                raise WorkerDied("the run was interrupted")
            self._all.add(worker)
        reusable = False
        try:
            result = worker.call(task, on_event)
            reusable = True
        except (StepError, _Crashed):
            reusable = True  # the step failed, the worker is fine
            raise
        finally:
            self._return(worker, reusable)
        return result

    def _return(self, worker: _Worker, reusable: bool) -> None:
        with self._lock:
            keep = reusable and not self._closed
            if keep:
                self._idle.append(worker)
            else:
                self._all.discard(worker)
        if not keep:
            worker.stop()

    def close(self) -> None:
        """Stop every worker, busy or idle (a busy one's task then fails as interrupted)."""
        with self._lock:
            self._closed = True
            workers, self._all, self._idle = list(self._all), set(), []
        for worker in workers:
            worker.stop()


class _Crashed(NodeFailed):
    """An unexpected exception inside a worker, carried back with its traceback."""


class _Worker:
    """One spawned process that runs tasks sent over a pipe, one at a time."""

    def __init__(self, threads: int):
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, os.getpid(), threads),
                                       name="zoo-worker", daemon=True)
        self.process.start()
        child.close()
        self._stopping = threading.Lock()
        self._stopped = False

    def call(self, task: Task, on_event: EventCallback) -> NodeResult:
        try:
            self.conn.send(task)
        except (OSError, ValueError) as exc:
            raise WorkerDied(f"could not hand the step to a worker process: {exc}") from None
        while (message := self._receive()) is not None:
            if message[0] == "event":
                on_event(message[1])
            else:
                return _unpack(message)
        self.process.join(timeout=5)
        raise WorkerDied(f"the worker process died ({describe_exit(self.process.exitcode)})")

    def _receive(self) -> tuple[Any, ...] | None:
        """The worker's next message, or None once it is gone and has nothing left to say."""
        try:
            wait([self.conn, self.process.sentinel])
            if self.conn.poll():
                message: tuple[Any, ...] = self.conn.recv()
                return message
        except (EOFError, OSError):
            pass  # the pipe broke or was closed by `stop`: the worker is gone
        return None

    def stop(self) -> None:
        """Kill the process and close the pipe, once: an interrupt (`close`) and the thread whose
        task it ended both stop the worker, and closing a pipe twice closes a stranger's fd."""
        with self._stopping:
            if self._stopped:
                return
            self._stopped = True
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


def describe_exit(code: int | None) -> str:
    """How a process ended, in words (with the usual suspect for SIGKILL)."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        text = f"killed by {name}"
    else:
        text = f"exit status {code}"
    if code in (-9, 137):
        text += "; the system's out-of-memory killer does this when memory runs out"
    return text


def _unpack(reply: tuple[Any, ...]) -> NodeResult:
    if reply[0] == "ok":
        result: NodeResult = reply[1]
        return result
    _, is_user_error, message, detail = reply
    if is_user_error:
        raise StepError(message)
    raise _Crashed(message, detail)


def _worker_main(conn: Connection, parent_pid: int, threads: int) -> None:
    """Entry point of a worker process: run tasks until the pipe closes or the parent dies."""
    from zoo.pipeline.execute import execute_node
    from zoo.store.local import LocalStore
    from zoo.store.tiers import tier_for

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C stops
    os.dup2(2, 1)  # what frameworks print is a message: stdout belongs to the parent's results (--json)
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, str(threads))
    threading.Thread(target=_watchdog, args=(parent_pid,), daemon=True).start()
    sending = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with sending:
            conn.send(message)

    def relay(event: Event) -> None:
        send(("event", event))

    stores: dict[str, LocalStore] = {}
    while True:
        try:
            task: Task = conn.recv()
        except (EOFError, OSError):
            return
        store = stores.setdefault(task.store_root, LocalStore(task.store_root))
        try:
            reply: tuple[Any, ...] = ("ok", execute_node(task, store, relay, tier_for(store, task.remote)))
        except ZooError as exc:
            reply = ("error", True, str(exc), "")
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides
            reply = ("error", False, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        try:
            send(reply)
        except Exception as exc:  # noqa: BLE001 - e.g. metrics that cannot be pickled
            send(("error", False, f"the step's result cannot be sent back: {exc}", traceback.format_exc()))


def _watchdog(parent_pid: int) -> None:
    while True:
        time.sleep(_WATCHDOG_PERIOD)
        if os.getppid() != parent_pid:
            os._exit(1)  # orphaned: the parent was killed; its locks are gone, stop writing
