"""Run a plan: hand ready nodes to a backend, wait for them, publish each model when it settles.

Order. Each model's steps run in dependency order; steps of different models run side by
side, at most `jobs` at a time. Steps of models already started go first, so that models
finish (and are published) early. Without `keep_going`, the first failure stops new models
from starting, while the models already under way finish; with it, every model is tried. A
step whose input failed is skipped.

Waiting. The scheduler sleeps in `concurrent.futures.wait` until a node finishes or a signal
arrives; it never polls.

Interruption. Ctrl-C (SIGINT) or SIGTERM only records the signal and wakes the scheduler, so
no exception lands in the middle of a write. The backend is then closed (worker processes are
killed), light steps get a moment to end, models whose steps all settled are still
published, and the next run starts from the steps that completed. The process may also be
killed outright at any moment with the same result: every write is a temp file + rename.
"""

from __future__ import annotations

import signal
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from zoo.errors import ZooError
from zoo.manifest.schema import Model
from zoo.pipeline.backends.base import Backend, NodeFailed
from zoo.pipeline.events import Event, EventCallback, EventSink
from zoo.pipeline.plan import Node, Plan, cache_key, output_digests
from zoo.pipeline.publish import publish_model
from zoo.pipeline.task import NodeResult, StepOutcome, Task
from zoo.store.local import LocalStore

#: Seconds to wait for running light steps after Ctrl-C before leaving them behind.
INTERRUPT_GRACE = 3.0
_MAINTENANCE = "waiting for `zoo store verify/gc` to finish with the store"


@dataclass
class RunResult:
    outcomes: list[StepOutcome]
    records: dict[str, Path]
    interrupted: bool = False
    #: Models whose folder could not be published, with the reason.
    publish_errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.interrupted and not self.publish_errors and all(o.ok for o in self.outcomes)

    @property
    def nothing_done(self) -> bool:
        return all(o.status == "cached" for o in self.outcomes)

    def outcome(self, model_id: str, kind: str) -> StepOutcome | None:
        return next((o for o in self.outcomes if o.model_id == model_id and o.kind == kind), None)


def run_plan(plan: Plan, store: LocalStore, *, out_dir: Path, jobs: int | None = 1, keep_going: bool = False,
             on_event: EventCallback | None = None, executor: str = "local", remote: str | None = None) -> RunResult:
    """Run `plan` on the backend called `executor` and publish into `out_dir`.

    `jobs` None means what the backend can run at once (a cluster's worker threads).
    """
    from zoo.pipeline.backends import open_backend

    if jobs is not None and jobs < 1:
        raise ZooError(f"-j/--jobs must be at least 1, got {jobs}")
    sink = EventSink(on_event)
    backend = open_backend(executor, jobs=jobs or 1, store=store, remote=remote, on_event=sink)
    try:
        limit = jobs or backend.capacity
        return Scheduler(backend, store, out_dir=out_dir, jobs=limit, keep_going=keep_going, on_event=sink,
                         remote=remote).run(plan)
    finally:
        backend.close()


class Scheduler:
    """Walks plans for one backend and one output folder."""

    def __init__(self, backend: Backend, store: LocalStore, *, out_dir: Path, jobs: int = 1,
                 keep_going: bool = False, on_event: EventCallback | None = None, remote: str | None = None):
        self.backend = backend
        self.remote = remote
        self.store = store
        self.out_dir = out_dir
        self.jobs = jobs
        self.keep_going = keep_going
        self.emit = EventSink(on_event)

    def run(self, plan: Plan) -> RunResult:
        """Run every node of the plan; return the outcomes and the records written."""
        with self.store.session(on_wait=lambda: self.emit(Event("run_waiting", message=_MAINTENANCE))), \
                _signals() as interrupt:
            return _Run(self, plan, interrupt).go()


class _Interrupt:
    """A signal that arrived during a run; `future` completes when it does, to wake `wait`."""

    def __init__(self) -> None:
        self.future: Future[None] = Future()
        self.happened = False
        self._wake = threading.Event()

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """Signal handler: remember, and wake the relay (`Event.set` is safe here: the main
        thread never holds this event's lock while handlers are installed)."""
        self.happened = True
        self._wake.set()

    def relay(self) -> None:
        self._wake.wait()
        if not self.future.done():
            self.future.set_result(None)

    def release(self) -> None:
        self._wake.set()


@contextmanager
def _signals() -> Iterator[_Interrupt]:
    """While running, SIGINT and SIGTERM interrupt the run (handlers only in the main thread)."""
    interrupt = _Interrupt()
    threading.Thread(target=interrupt.relay, name="zoo-interrupt", daemon=True).start()
    handled = (signal.SIGINT, signal.SIGTERM) if threading.current_thread() is threading.main_thread() else ()
    previous = {sig: signal.signal(sig, interrupt.handle) for sig in handled}
    try:
        yield interrupt
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        interrupt.release()


@dataclass(frozen=True)
class _Running:
    node: Node
    key: str
    started: float


class _Run:
    """The state of one run of one plan."""

    def __init__(self, scheduler: Scheduler, plan: Plan, interrupt: _Interrupt):
        self.scheduler, self.plan, self.interrupt = scheduler, plan, interrupt
        self.outcomes: dict[tuple[str, str], StepOutcome] = {}
        self.waiting = {model.id: list(plan.nodes[model.id]) for model in plan.models}
        self.started: set[str] = set()
        self.running: dict[Future[NodeResult], _Running] = {}
        self.records: dict[str, Path] = {}
        self.publish_errors: dict[str, str] = {}
        self.stop_new_models = False

    def go(self) -> RunResult:
        self.scheduler.emit(Event("run_started", total=len(self.plan.all_nodes())))
        while not self.interrupt.happened:
            self._submit_ready()
            if not self.running:
                break
            waiting: list[Future[Any]] = [*self.running, self.interrupt.future]
            done, _ = wait(waiting, return_when=FIRST_COMPLETED)
            for future in done:
                if future in self.running:
                    self._collect(future)
        if self.interrupt.happened:
            self._wind_down()
        ordered = [self.outcomes[(m.id, n.kind)] for m in self.plan.models for n in self.plan.nodes[m.id]
                   if (m.id, n.kind) in self.outcomes]
        return RunResult(ordered, self.records, self.interrupt.happened, self.publish_errors)

    def _submit_ready(self) -> None:
        """Submit every node whose inputs are settled (started models first); publish settled models."""
        for model in sorted(self.plan.models, key=lambda m: m.id not in self.started):
            for node in list(self.waiting[model.id]):
                self._consider(model, node)
            self._publish_if_settled(model)

    def _consider(self, model: Model, node: Node) -> None:
        upstream = {kind: self.outcomes.get((model.id, kind)) for kind in node.needs}
        settled = {kind: o for kind, o in upstream.items() if o is not None}
        if len(settled) < len(upstream):
            return
        broken = [o for o in settled.values() if not o.ok]
        if broken:
            self.waiting[model.id].remove(node)
            self._settle(StepOutcome(model.id, node.kind, "skipped", error=f"{broken[0].kind} failed"))
        elif model.id not in self.started and self.stop_new_models:
            self.waiting[model.id].remove(node)
            self._settle(StepOutcome(model.id, node.kind, "skipped",
                                     error="not started after an earlier failure (use --keep-going)"))
        elif len(self.running) < self.scheduler.jobs:
            self.waiting[model.id].remove(node)
            self.started.add(model.id)
            self._submit(model, node, settled)

    def _submit(self, model: Model, node: Node, upstream: dict[str, StepOutcome]) -> None:
        entries = {kind: outcome.entry for kind, outcome in upstream.items() if outcome.entry is not None}
        ingredients = node.ingredients({kind: output_digests(entry) for kind, entry in entries.items()})
        key = cache_key(ingredients)
        task = Task(model=model, step=node.step, key=key, ingredients=ingredients, upstream=entries,
                    options=self.plan.options, tools=node.tools, store_root=str(self.scheduler.store.root),
                    forced=node.forced, remote=self.scheduler.remote)
        self.running[self.scheduler.backend.submit(task)] = _Running(node, key, time.monotonic())

    def _collect(self, future: Future[NodeResult]) -> None:
        running = self.running.pop(future)
        outcome = _outcome(future, running)
        self._settle(outcome)
        if not outcome.ok and not self.scheduler.keep_going:
            self.stop_new_models = True

    def _settle(self, outcome: StepOutcome) -> None:
        self.outcomes[(outcome.model_id, outcome.kind)] = outcome
        self.scheduler.emit(Event("step_finished", outcome.model_id, outcome.kind, outcome.status,
                          round(outcome.seconds, 3), outcome.error))

    def _publish_if_settled(self, model: Model) -> None:
        nodes = self.plan.nodes[model.id]
        if model.id not in self.started or model.id in self.records or model.id in self.publish_errors:
            return
        if not all((model.id, node.kind) in self.outcomes for node in nodes):
            return
        outcomes = {node.kind: self.outcomes[(model.id, node.kind)] for node in nodes}
        try:
            self.records[model.id] = publish_model(self.scheduler.store, self.scheduler.out_dir, self.plan, model, outcomes)
        except ZooError as exc:
            self.publish_errors[model.id] = str(exc)
        ok = model.id not in self.publish_errors and all(o.ok for o in outcomes.values())
        self.scheduler.emit(Event("model_finished", model.id, status="ok" if ok else "failed"))

    def _wind_down(self) -> None:
        """After a signal: stop the backend, give light steps a moment, publish what settled."""
        self.scheduler.emit(Event("interrupted", message="interrupted: stopping; finished steps are kept"))
        self.scheduler.backend.close(cancel=True)
        done, _ = wait(list(self.running), timeout=INTERRUPT_GRACE)
        for future in done:
            outcome = _outcome(future, self.running.pop(future))
            if outcome.ok:
                self._settle(outcome)
        for model in self.plan.models:
            self._publish_if_settled(model)


def _outcome(future: Future[NodeResult], running: _Running) -> StepOutcome:
    """How a finished future's node ended, failures included."""
    node = running.node
    failed = StepOutcome(node.model.id, node.kind, "failed", running.key, seconds=time.monotonic() - running.started)
    try:
        result = future.result()
    except ZooError as exc:
        failed.error = str(exc)
    except NodeFailed as exc:
        failed.error, failed.detail = str(exc), exc.detail
    except Exception as exc:  # noqa: BLE001 - a bug in a step (this process): fail it, keep the traceback
        failed.error = f"{type(exc).__name__}: {exc}"
        failed.detail = "".join(traceback.format_exception(exc))
    else:
        return StepOutcome(node.model.id, node.kind, result.status, running.key, result.entry, result.seconds)
    return failed

