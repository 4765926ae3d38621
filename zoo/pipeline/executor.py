"""Run a plan: ready steps in parallel, heavy ones in worker processes, results into the store.

Scheduling. Each model's steps run in dependency order; steps of different models run side
by side, at most `jobs` at a time. Steps of models already started go first, so that models
finish (and are materialised) early. Without `keep_going`, the first failure stops new
models from starting, while the models already under way finish; with it, every model is tried.

Isolation. Light steps (fetch, render) run in threads of this process. Heavy steps run in
worker processes started with "spawn" (no inherited locks or framework state). A worker that
dies — crash, `os._exit`, the out-of-memory killer — fails that model's step with a message
saying so; a new worker replaces it. Workers are reused, so torch is imported once per worker.

Cache and locks. A step first looks up its key in the action cache. On a miss it takes the
key's file lock, looks again (another process may have just computed it), runs in a scratch
folder, moves its outputs into the store and writes the entry. Two processes syncing the same
model therefore compute each step once and both succeed.

Interruption. Ctrl-C (SIGINT) or SIGTERM only sets a flag, which the scheduler checks between
events, so no exception lands in the middle of a write. The workers are then stopped, nothing
half-done is published (every write is a temp file + rename), models that finished are still
materialised, and the next run starts from the steps that completed. The process may also be
killed outright at any moment with the same result.

Results. When all steps of a model are settled, the outputs of its successful steps (those
with `Step.publish`) are materialised into `out_dir/<model stem>/` (hard link, else copy)
next to its `record.json`; files an earlier record listed and this one does not are removed.
A model that never started (see `keep_going`) keeps its folder as it was.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import shutil
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from zoo import __version__
from zoo.errors import StepError, StoreError, ZooError
from zoo.manifest.schema import Model
from zoo.pipeline.plan import Node, Plan, cache_key, explain, model_digest, output_digests
from zoo.pipeline.record import (
    RECORD_NAME,
    OutputFile,
    Record,
    StepRecord,
    keep_measurements,
    read_record,
    record_lock,
)
from zoo.pipeline.steps.base import RunOptions, Step, StepInputs, StepResult
from zoo.store.local import ActionEntry, Store

#: Seconds to wait for running light steps after Ctrl-C before leaving them behind.
_INTERRUPT_GRACE = 3.0
#: Seconds between checks that the parent of a worker process is still alive.
_WATCHDOG_PERIOD = 1.0


@dataclass
class StepOutcome:
    """How one step of one model ended."""

    model_id: str
    kind: str
    status: str  # ran | cached | failed | skipped
    key: str = ""
    entry: ActionEntry | None = None
    seconds: float = 0.0
    error: str | None = None
    #: Traceback of an unexpected exception (a bug, not a user error), for --debug.
    detail: str | None = None
    reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("ran", "cached")


@dataclass(frozen=True)
class Event:
    """One thing that happened during a run, for progress displays and JSON logs."""

    #: run_waiting | run_started | step_started | step_waiting | step_finished | model_finished | interrupted
    event: str
    model: str | None = None
    step: str | None = None
    status: str | None = None
    seconds: float | None = None
    message: str | None = None
    total: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class RunResult:
    outcomes: list[StepOutcome]
    records: dict[str, Path]
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(o.ok for o in self.outcomes)

    @property
    def nothing_done(self) -> bool:
        return all(o.status == "cached" for o in self.outcomes)


class WorkerDied(Exception):
    """A worker process ended while running a step."""


class Executor:
    def __init__(
        self,
        store: Store,
        *,
        out_dir: Path,
        jobs: int = 1,
        keep_going: bool = False,
        on_event: Callable[[Event], None] | None = None,
    ):
        if jobs < 1:
            raise ZooError(f"-j/--jobs must be at least 1, got {jobs}")
        self.store = store
        self.out_dir = out_dir
        self.jobs = jobs
        self.keep_going = keep_going
        self._on_event = on_event
        self._emit_lock = threading.Lock()
        self._workers = _WorkerPool(jobs)  # replaced at the start of every run
        self._stop = threading.Event()

    def emit(self, event: Event) -> None:
        """Report an event; a broken display (say, a log pipe that closed) never fails a step."""
        if self._on_event is not None:
            with self._emit_lock:
                try:
                    self._on_event(event)
                except OSError:
                    pass

    # ------------------------------------------------------------ scheduling
    def run(self, plan: Plan) -> RunResult:
        """Run every step of the plan; return the outcomes and the records written."""
        def waiting() -> None:
            self.emit(Event("run_waiting", message=_MAINTENANCE))

        with self.store.session(on_wait=waiting), self._stop_on_signals():
            return self._run(plan)

    @contextlib.contextmanager
    def _stop_on_signals(self) -> Iterator[None]:
        """While running, SIGINT and SIGTERM ask the scheduler to stop (main thread only)."""
        self._stop.clear()
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, lambda *_: self._stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run(self, plan: Plan) -> RunResult:
        outcomes: dict[tuple[str, str], StepOutcome] = {}
        records: dict[str, Path] = {}
        waiting = {model.id: list(plan.nodes[model.id]) for model in plan.models}
        started: set[str] = set()
        running: dict[tuple[str, str], threading.Thread] = {}
        finished: queue.Queue[StepOutcome] = queue.Queue()
        stop_new_models = False
        self._workers = _WorkerPool(self.jobs)
        self.emit(Event("run_started", total=len(plan.all_nodes())))

        def settle(outcome: StepOutcome) -> None:
            outcomes[(outcome.model_id, outcome.kind)] = outcome
            self.emit(Event("step_finished", outcome.model_id, outcome.kind, outcome.status,
                            round(outcome.seconds, 3), outcome.error))

        try:
            while not self._stop.is_set():
                for model in sorted(plan.models, key=lambda m: m.id not in started):
                    for node in list(waiting[model.id]):
                        upstream = [outcomes.get((model.id, kind)) for kind in node.needs]
                        if any(o is None for o in upstream):
                            continue
                        broken = [o for o in upstream if o is not None and not o.ok]
                        if broken:
                            waiting[model.id].remove(node)
                            settle(StepOutcome(model.id, node.kind, "skipped", error=f"{broken[0].kind} failed"))
                        elif model.id not in started and stop_new_models:
                            waiting[model.id].remove(node)
                            settle(StepOutcome(model.id, node.kind, "skipped",
                                               error="not started after an earlier failure (use --keep-going)"))
                        elif len(running) < self.jobs:
                            waiting[model.id].remove(node)
                            started.add(model.id)
                            inputs = {kind: outcomes[(model.id, kind)] for kind in node.needs}
                            thread = threading.Thread(
                                target=self._guarded, args=(node, plan.options, inputs, finished), daemon=True,
                                name=f"zoo {model.id} {node.kind}",
                            )
                            running[(model.id, node.kind)] = thread
                            thread.start()
                    if model.id in started and model.id not in records and _settled(model, plan, outcomes):
                        records[model.id] = self._finish_model(model, plan, outcomes)
                if not running:
                    break
                try:
                    outcome = finished.get(timeout=0.2)
                except queue.Empty:
                    continue
                running.pop((outcome.model_id, outcome.kind))
                settle(outcome)
                if not outcome.ok and not self.keep_going:
                    stop_new_models = True
            if self._stop.is_set():
                self._interrupt(running, finished, settle)
                for model in plan.models:
                    if model.id in started and model.id not in records and _settled(model, plan, outcomes):
                        records[model.id] = self._finish_model(model, plan, outcomes)
        finally:
            self._workers.close()
        ordered = [outcomes[(m.id, n.kind)] for m in plan.models for n in plan.nodes[m.id]
                   if (m.id, n.kind) in outcomes]
        return RunResult(ordered, records, interrupted=self._stop.is_set())

    def _interrupt(
        self,
        running: dict[tuple[str, str], threading.Thread],
        finished: queue.Queue[StepOutcome],
        settle: Callable[[StepOutcome], None],
    ) -> None:
        """Stop the workers, give light steps a moment to end, and leave the rest behind."""
        self.emit(Event("interrupted", message="interrupted: stopping; finished steps are kept"))
        self._workers.close()
        deadline = time.monotonic() + _INTERRUPT_GRACE
        while running and time.monotonic() < deadline:
            try:
                outcome = finished.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            running.pop((outcome.model_id, outcome.kind), None)
            if outcome.ok:
                settle(outcome)

    # -------------------------------------------------------------- one step
    def _guarded(self, node: Node, options: RunOptions, upstream: dict[str, StepOutcome],
                 finished: queue.Queue[StepOutcome]) -> None:
        """Thread body: run one step and report its outcome, whatever happens."""
        entries = {kind: outcome.entry for kind, outcome in upstream.items()}
        ingredients = node.ingredients({kind: output_digests(entry) for kind, entry in entries.items()})
        key = cache_key(ingredients)
        start = time.monotonic()
        failed = StepOutcome(node.model.id, node.kind, "failed", key)
        try:
            outcome = self._execute(node, options, entries, key, ingredients)
        except (ZooError, WorkerDied) as exc:
            outcome, failed.error = failed, str(exc)
        except _StepCrashed as exc:  # a bug inside a worker: keep its traceback for --debug
            outcome, failed.error, failed.detail = failed, str(exc), exc.detail
        except Exception as exc:  # noqa: BLE001 - a bug in a step (this process): fail it, keep the traceback
            outcome, failed.error, failed.detail = failed, f"{type(exc).__name__}: {exc}", traceback.format_exc()
        if outcome is failed:
            failed.seconds = time.monotonic() - start
        finished.put(outcome)

    def _execute(self, node: Node, options: RunOptions, entries: dict[str, ActionEntry | None], key: str,
                 ingredients: dict[str, Any]) -> StepOutcome:
        model, store = node.model, self.store
        if not node.forced and (entry := store.get_action(key)) is not None:
            store.set_last_result(model.stem, node.kind, key, ingredients)
            return StepOutcome(model.id, node.kind, "cached", key, entry)
        reasons = [f"forced (--force {node.kind})"] if node.forced else explain(
            store.last_result(model.stem, node.kind), ingredients, key=key)
        from filelock import Timeout

        lock = store.key_lock(key)
        try:
            lock.acquire(blocking=False)
        except Timeout:
            self.emit(Event("step_waiting", model.id, node.kind, message="another process is computing this step"))
            lock.acquire()
        try:
            if not node.forced and (entry := store.get_action(key)) is not None:
                store.set_last_result(model.stem, node.kind, key, ingredients)
                return StepOutcome(model.id, node.kind, "cached", key, entry)
            self.emit(Event("step_started", model.id, node.kind, message="; ".join(reasons)))
            start = time.monotonic()
            workdir = store.workdir(key)
            try:
                inputs = self._stage_inputs(entries, workdir / "inputs")
                if node.step.heavy:
                    result = self._workers.call(node.step, model, inputs, workdir, options)
                else:
                    result = node.step.run(model, inputs, workdir, options)
                entry = self._ingest(node, key, ingredients, result, workdir, time.monotonic() - start)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            store.put_action(entry)  # last: a kill before this leaves nothing that looks finished
        finally:
            lock.release()
        store.set_last_result(model.stem, node.kind, key, ingredients)
        return StepOutcome(model.id, node.kind, "ran", key, entry, entry.seconds, reasons=reasons)

    def _stage_inputs(self, entries: dict[str, ActionEntry | None], folder: Path) -> StepInputs:
        """Upstream outputs under their own file names (hard links into the store)."""
        files: dict[str, dict[str, Path]] = {}
        metrics: dict[str, dict[str, Any]] = {}
        seen: set[str] = set()
        for kind, entry in entries.items():
            assert entry is not None  # only successful upstream steps get here
            metrics[kind], files[kind] = entry.metrics, {}
            for name, output in entry.outputs.items():
                if name in seen:
                    raise StepError(f"two steps produce an output named {name!r}; output names must be unique")
                seen.add(name)
                files[kind][name] = folder / kind / output.name
                self.store.materialise(output.digest, files[kind][name])
        return StepInputs(files, metrics)

    def _ingest(self, node: Node, key: str, ingredients: dict[str, Any], result: StepResult, workdir: Path,
                seconds: float) -> ActionEntry:
        """Move a step's output files into the store; return the action entry to cache."""
        from zoo.pipeline.plan import jsonable

        if not isinstance(result, StepResult):
            raise StepError(f"step {node.kind} returned {type(result).__name__}, not a StepResult")
        outputs: dict[str, OutputFile] = {}
        root = workdir.resolve()
        for name, path in result.outputs.items():
            path = Path(path)
            if not path.is_file():
                raise StepError(f"step {node.kind} reported output {name!r} at {path}, which is not a file")
            if not path.resolve().is_relative_to(root):
                raise StepError(f"step {node.kind} wrote output {name!r} outside its work folder: {path}")
            relative = path.resolve().relative_to(root).as_posix()
            if relative == RECORD_NAME:
                raise StepError(f"step {node.kind} names an output {RECORD_NAME}, which is reserved for the record")
            digest, size = self.store.put_file(path, move=True)
            outputs[name] = OutputFile(name=relative, digest=digest, size=size)
        try:
            metrics = jsonable(result.metrics)
        except (TypeError, ValueError) as exc:
            raise StepError(f"step {node.kind} returned metrics that are not JSON: {exc}") from None
        entry = ActionEntry(key=key, kind=node.kind, ingredients=ingredients, outputs=outputs, metrics=metrics,
                            warnings=[str(w) for w in result.warnings], tool_versions=node.tools,
                            seconds=round(seconds, 3))
        return entry

    # ---------------------------------------------------------------- results
    def _finish_model(self, model: Model, plan: Plan, outcomes: dict[tuple[str, str], StepOutcome]) -> Path:
        """Materialise the model's outputs and write its record; return the record's path."""
        folder = self.out_dir / model.stem
        folder.mkdir(parents=True, exist_ok=True)
        with record_lock(folder):
            return self._write_model_folder(model, plan, outcomes, folder)

    def _write_model_folder(self, model: Model, plan: Plan, outcomes: dict[tuple[str, str], StepOutcome],
                            folder: Path) -> Path:
        try:
            previous = read_record(folder)
        except (OSError, ValueError):
            previous = None
        record = Record(model_id=model.id, manifest_digest=model_digest(model), zoo_version=__version__,
                        random_weights=plan.options.random_weights)
        owners: dict[str, str] = {}
        for node in plan.nodes[model.id]:
            outcome = outcomes[(model.id, node.kind)]
            entry = outcome.entry
            step = StepRecord(kind=node.kind, key=outcome.key, status=outcome.status,
                              tool_versions=node.tools, seconds=round(outcome.seconds, 3), error=outcome.error)
            if entry is not None:
                step.outputs, step.metrics, step.warnings = dict(entry.outputs), entry.metrics, entry.warnings
                step.seconds = entry.seconds if outcome.status == "cached" else step.seconds
                for output in entry.outputs.values() if node.step.publish else ():
                    if owners.get(output.name, node.kind) != node.kind:
                        raise StoreError(f"{model.id}: steps {owners[output.name]} and {node.kind} both write "
                                         f"{output.name}; give the outputs distinct file names")
                    owners[output.name] = node.kind
                    self._publish(output, folder, previous)
            record.steps[node.kind] = step
        if previous is not None:
            keep_measurements(previous, record)
            for old in (o for s in previous.steps.values() for o in s.outputs.values()):
                if old.name not in owners:
                    with contextlib.suppress(FileNotFoundError):
                        (folder / old.name).unlink()
        path = record.write(folder)
        self.emit(Event("model_finished", model.id, status="ok" if all(
            outcomes[(model.id, n.kind)].ok for n in plan.nodes[model.id]) else "failed"))
        return path

    def _publish(self, output: OutputFile, folder: Path, previous: Record | None) -> None:
        """Put one output into the model folder, unless an unmodified copy is already there."""
        dest = folder / output.name
        if previous is not None and dest.is_file():
            same = any(o.name == output.name and o.digest == output.digest
                       for s in previous.steps.values() for o in s.outputs.values())
            stat = dest.stat()
            record_time = (folder / RECORD_NAME).stat().st_mtime_ns
            if same and stat.st_size == output.size and stat.st_mtime_ns <= record_time:
                return  # copied by an earlier run and not touched since
        self.store.materialise(output.digest, dest)


_MAINTENANCE = "waiting for `zoo store verify/gc` to finish with the store"


def _settled(model: Model, plan: Plan, outcomes: dict[tuple[str, str], StepOutcome]) -> bool:
    return all((model.id, node.kind) in outcomes for node in plan.nodes[model.id])


# ---------------------------------------------------------------------------- workers
class _WorkerPool:
    """Up to `size` reusable worker processes; a dead worker is replaced by a fresh one."""

    def __init__(self, size: int):
        self.size = size
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._threads = max(1, (os.cpu_count() or 1) // size)

    def call(self, step: Step, model: Model, inputs: StepInputs, workdir: Path, options: RunOptions) -> StepResult:
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
            result = worker.call((step, model, inputs, workdir, options))
            reusable = True
        except (StepError, _StepCrashed):
            reusable = True  # the step failed, the worker is fine
            raise
        finally:
            with self._lock:
                if reusable and not self._closed:
                    self._idle.append(worker)
                else:
                    self._all.discard(worker)
                    reusable = False
            if not reusable:
                worker.stop()
        return result

    def close(self) -> None:
        """Stop every worker, busy or idle (a busy one's step then fails as interrupted)."""
        with self._lock:
            self._closed = True
            workers, self._all, self._idle = list(self._all), set(), []
        for worker in workers:
            worker.stop()


class _Worker:
    """One spawned process that runs steps sent over a pipe, one at a time."""

    def __init__(self, threads: int):
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, os.getpid(), threads),
                                       name="zoo-worker", daemon=True)
        self.process.start()
        child.close()
        self._stopping = threading.Lock()
        self._stopped = False

    def call(self, task: tuple[Any, ...]) -> StepResult:
        try:
            self.conn.send(task)
        except (OSError, ValueError) as exc:
            raise WorkerDied(f"could not hand the step to a worker process: {exc}") from None
        reply = None
        try:
            wait([self.conn, self.process.sentinel])
            if self.conn.poll():
                reply = self.conn.recv()
        except (EOFError, OSError):
            pass  # the pipe broke or was closed by `stop`: the worker is gone
        if reply is not None:
            return _unpack(reply)
        self.process.join(timeout=5)
        raise WorkerDied(f"the worker process died ({_describe_exit(self.process.exitcode)})")

    def stop(self) -> None:
        """Kill the process and close the pipe, once: an interrupt (`close`) and the thread whose
        step it ended both stop the worker, and closing a pipe twice closes a stranger's fd."""
        with self._stopping:
            if self._stopped:
                return
            self._stopped = True
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


def _describe_exit(code: int | None) -> str:
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


def _unpack(reply: tuple[Any, ...]) -> StepResult:
    if reply[0] == "ok":
        return reply[1]
    _, is_user_error, message, detail = reply
    if is_user_error:
        raise StepError(message)
    raise _StepCrashed(message, detail)


class _StepCrashed(Exception):
    """An unexpected exception inside a worker, carried back with its traceback."""

    def __init__(self, message: str, detail: str):
        super().__init__(message)
        self.detail = detail


def _worker_main(conn: Connection, parent_pid: int, threads: int) -> None:
    """Entry point of a worker process: run steps until the pipe closes or the parent dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C stops
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, str(threads))  # N workers should not each use every core

    def watchdog() -> None:
        while True:
            time.sleep(_WATCHDOG_PERIOD)
            if os.getppid() != parent_pid:
                os._exit(1)  # orphaned: the parent was killed; its locks are gone, stop writing

    threading.Thread(target=watchdog, daemon=True).start()
    while True:
        try:
            step, model, inputs, workdir, options = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[Any, ...] = ("ok", step.run(model, inputs, workdir, options))
        except ZooError as exc:
            reply = ("error", True, str(exc), "")
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides
            reply = ("error", False, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        try:
            conn.send(reply)
        except Exception as exc:  # noqa: BLE001 - e.g. metrics that cannot be pickled
            conn.send(("error", False, f"the step's result cannot be sent back: {exc}", traceback.format_exc()))
