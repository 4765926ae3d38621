"""The contract of an execution backend, and how a node that failed elsewhere is reported.

A backend runs `zoo.pipeline.execute.execute_node` for each task it is given, wherever it
likes (threads, worker processes, other machines), and hands back a future. It never decides
what runs next or what is published: that is the scheduler's job.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Protocol

from zoo.pipeline.task import NodeResult, Task


class Backend(Protocol):
    @property
    def capacity(self) -> int:
        """How many tasks it runs at once (what the scheduler submits when `-j` is not given)."""
        ...

    def submit(self, task: Task) -> Future[NodeResult]:
        """Start running `task`; the future holds its `NodeResult`, or the exception that ended it.

        A `ZooError` is a step failing for a reason its user can act on; `NodeFailed` is any
        other end of a node that ran out of reach (a bug in a worker, a worker that died).
        """
        ...

    def close(self, cancel: bool = False) -> None:
        """Release the backend's resources; with `cancel`, stop the tasks still running too."""
        ...


class NodeFailed(Exception):
    """A node ended badly where its exception could not travel: the message, and a traceback
    (`detail`) when the cause is a bug, for --debug."""

    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message)
        self.detail = detail


class WorkerDied(NodeFailed):
    """The process running a node ended (crash, `os._exit`, the out-of-memory killer)."""
