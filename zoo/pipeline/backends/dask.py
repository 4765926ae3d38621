"""The Dask backend: each node runs on a worker of a Dask cluster, results travel through the remote tier.

Workers share no disk with the client or with each other. A worker opens its own local store
(its `ZOO_HOME`), pulls the inputs it lacks from the remote tier, runs the step in a local work
folder, pushes the outputs (blobs first, entry last) and returns only the action entry. The
client then pulls the blobs of what it publishes into its own store. Hence a Dask backend
without a remote tier is refused.

A step is offered first to the worker that computed its inputs (they are in that worker's
store already), and may run elsewhere. Each node is submitted with its cache key as the Dask task key, so the same step submitted
twice — by this run or by a colleague's on the same cluster — runs once, and heavy steps ask for
`resources={"heavy": 1}` (start workers with `--resources heavy=1`). A worker that dies mid-step
gets the step rescheduled on another worker by the Dask scheduler, a bounded number of times
(its `allowed-failures` setting); after that the node fails naming the worker. A lost scheduler
fails the nodes still running with a clear message; a re-run resumes from what reached the
remote. Events of a running node (started, waiting, progress) come back over a Dask topic, so
progress shows as with the local backend.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from zoo.errors import ZooError
from zoo.pipeline.backends.base import NodeFailed, WorkerDied
from zoo.pipeline.events import Event, EventCallback, ignore
from zoo.pipeline.task import NodeResult, Task
from zoo.store.local import LocalStore, default_root
from zoo.store.tiers import Tiered, remote_at, tier_for

#: The URL scheme `--executor` takes for a Dask scheduler: `dask://HOST:PORT` (tcp).
SCHEME = "dask://"
#: Seconds to wait for the scheduler when connecting, and for it to come back after a drop.
CONNECT_TIMEOUT = 30.0
#: Seconds without a scheduler before the running nodes are failed ($ZOO_DASK_LOST_AFTER overrides).
LOST_AFTER = 20.0


class DaskBackend:
    """Submits tasks to the Dask scheduler at `address`; needs the remote tier `remote`."""

    def __init__(self, address: str, *, store: LocalStore, remote: str | None,
                 on_event: EventCallback | None = None):
        if not remote:
            raise ZooError(f"--executor {address} needs a remote cache (--remote s3://bucket/prefix or $ZOO_REMOTE): "
                           "cluster workers share no disk with this machine, results travel through the remote")
        self.address = address.removeprefix(SCHEME)
        self.tier = Tiered(store, remote_at(remote))
        self._on_event = on_event or ignore
        self._client = _connect(self.address)
        self._topic = f"zoo-events-{uuid.uuid4().hex}"
        self._client.subscribe_topic(self._topic, self._relay_event)
        self._adopting = ThreadPoolExecutor(max_workers=4, thread_name_prefix="zoo-adopt")
        self._pending: dict[Any, Future[NodeResult]] = {}
        #: The worker that computed each key this run: a step prefers the worker holding its inputs.
        self._where: dict[str, str] = {}
        self._lock = threading.Lock()
        self._closing = False
        _require_heavy_workers(self._client, self.address)
        threading.Thread(target=self._watch_scheduler, name="zoo-dask-watch", daemon=True).start()

    @property
    def capacity(self) -> int:
        """How many nodes the cluster runs at once (its workers' threads)."""
        workers = self._client.scheduler_info().get("workers", {}).values()
        return max(1, sum(int(w.get("nthreads", 1)) for w in workers))

    def submit(self, task: Task) -> Future[NodeResult]:
        key = f"zoo-{task.kind}-{task.key}" + (f"-forced-{uuid.uuid4().hex[:8]}" if task.forced else "")
        resources = {"heavy": 1} if task.heavy else None
        near = sorted({self._where[e.key] for e in task.upstream.values() if e.key in self._where})
        placement: dict[str, Any] = {"workers": near, "allow_other_workers": True} if near else {}
        remote_future = self._client.submit(run_on_worker, task, self._topic, key=key, resources=resources,
                                            pure=False, **placement)
        result: Future[NodeResult] = Future()
        result.set_running_or_notify_cancel()
        with self._lock:
            self._pending[remote_future] = result
        remote_future.add_done_callback(lambda done: self._adopting.submit(self._finish, task, done))
        return result

    def close(self, cancel: bool = False) -> None:
        """Disconnect; with `cancel`, cancel the submitted tasks on the cluster first (Ctrl-C)."""
        self._closing = True
        with self._lock:
            pending = list(self._pending)
        if cancel and pending:
            self._client.cancel(pending, force=True)
        self._client.close(timeout=10)
        self._adopting.shutdown(wait=not cancel, cancel_futures=cancel)

    def _finish(self, task: Task, remote_future: Any) -> None:
        """A node ended on the cluster: adopt what this client publishes, or report how it failed."""
        with self._lock:
            result = self._pending.pop(remote_future, None)
        if result is None or result.done():
            return
        try:
            node = _result_of(remote_future, self.address, self._closing)
            holders = self._client.who_has(remote_future).get(remote_future.key) or ()
            if holders:
                self._where[task.key] = holders[0]
            if task.step.publish:  # the client materialises these, so their blobs come down now
                self.tier.fetch_blobs(o.digest for o in node.entry.outputs.values())
                self.tier.store.actions.put(node.entry)
            self.tier.store.actions.set_last(task.model.stem, task.kind, task.key, task.ingredients)
        except BaseException as exc:  # noqa: BLE001 - the scheduler decides what a failure means
            result.set_exception(exc)
        else:
            result.set_result(node)

    def _relay_event(self, event: Any) -> None:
        """A worker's event (timestamp, fields) for this run, to this run's display (Dask adds the
        worker's address to the fields, which an `Event` does not hold)."""
        _, fields = event
        self._on_event(Event(**{name: value for name, value in fields.items() if name in _EVENT_FIELDS}))

    def _watch_scheduler(self) -> None:
        """Fail the running nodes once the scheduler has been gone for `LOST_AFTER` seconds."""
        patience = float(os.environ.get("ZOO_DASK_LOST_AFTER", LOST_AFTER))
        gone_since: float | None = None
        while not self._closing:
            time.sleep(1.0)
            if self._client.status == "running":
                gone_since = None
                continue
            gone_since = gone_since or time.monotonic()
            if time.monotonic() - gone_since > patience:
                self._fail_pending(NodeFailed(_lost(self.address)))
                return

    def _fail_pending(self, error: BaseException) -> None:
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        for future in pending:
            if not future.done():
                future.set_exception(error)


def run_on_worker(task: Task, topic: str) -> NodeResult:
    """What a Dask worker runs for one node: its own store, inputs from the remote, outputs back to it."""
    from distributed import get_worker

    from zoo.pipeline.execute import execute_node

    worker = get_worker()
    store = _worker_store()
    local_task = dataclasses.replace(task, store_root=str(store.root))

    def relay(event: Event) -> None:
        worker.log_event(topic, event.as_dict())

    return execute_node(local_task, store, relay, tier_for(store, task.remote, required=True))


_STORES: dict[str, LocalStore] = {}
_EVENT_FIELDS = {f.name for f in dataclasses.fields(Event)}


def _worker_store() -> LocalStore:
    """The worker machine's own store ($ZOO_HOME of the worker process), opened once per process."""
    root = str(default_root())
    if root not in _STORES:
        _STORES[root] = LocalStore(root)
    return _STORES[root]


def _lost(address: str) -> str:
    return (f"lost the Dask scheduler at {address} (it went away, or cancelled the step); run `zoo sync` again "
            "when it is back: it resumes from the results that reached the remote")


def _connect(address: str) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise ZooError("--executor dask://... needs Dask: pip install 'zoo[dask]'") from None
    import logging

    # zoo reports a lost or unreachable scheduler in its own words; Dask's tracebacks would bury them
    for name in [n for n in logging.root.manager.loggerDict if n.startswith("distributed")]:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        return Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ZooError(f"cannot reach the Dask scheduler at {address}: {exc}; start it with `dask scheduler` "
                       "or check --executor / $ZOO_EXECUTOR") from None


def _require_heavy_workers(client: Any, address: str) -> None:
    """Refuse a cluster whose workers cannot take heavy steps (they would wait forever)."""
    workers = client.scheduler_info().get("workers", {}).values()
    if not any(w.get("resources", {}).get("heavy", 0) >= 1 for w in workers):
        raise ZooError(f"no worker of the Dask scheduler at {address} offers the resource `heavy`; "
                       "start workers with `dask worker ADDRESS --nthreads 1 --resources heavy=1`")


def _result_of(remote_future: Any, address: str, closing: bool) -> NodeResult:
    """The node's result, or the exception that says how it ended on the cluster."""
    status = remote_future.status
    if status == "finished":
        node: NodeResult = remote_future.result()
        return node
    if status == "cancelled":
        raise NodeFailed("interrupted" if closing else _lost(address))
    exc = remote_future.exception()
    if isinstance(exc, ZooError):
        raise exc
    if type(exc).__name__ == "KilledWorker":
        raise WorkerDied(f"the worker running this step died and so did its retries: {exc}")
    import traceback

    detail = "".join(traceback.format_tb(remote_future.traceback())) if remote_future.traceback() else None
    raise NodeFailed(f"{type(exc).__name__} on a Dask worker: {exc}", detail)
