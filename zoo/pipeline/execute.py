"""Run one node of a plan, the same way wherever it runs: `execute_node(task, store)`.

1. Look the key up (and report a hit as cached).
2. Else take the key's lock, saying so if another process holds it, and look again: that
   process may have just computed it. Two runs that reach one step compute it once.
3. Run the step in a fresh local work folder, with the upstream outputs materialised into it.
4. Put its outputs into the blob store, then the action entry: an entry is never written
   before the blobs it names, so a crash at any moment leaves nothing that looks finished.

With a remote tier (`zoo.store.tiers.Tiered`), a lookup asks the remote after the local store
(a hit's blobs come down verified, then its entry), inputs missing locally are pulled before the
step runs, and a result goes up blobs first and entry last. Where the remote is the only way a
result can travel (`tier.required`, a cluster worker), failing to share it fails the node;
otherwise the failure is reported and the next run shares it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo.errors import RemoteError, StepError
from zoo.pipeline.events import Event, EventCallback, ignore
from zoo.pipeline.plan import explain, jsonable
from zoo.pipeline.record import RECORD_NAME
from zoo.pipeline.steps.base import StepInputs, StepReport, StepResult
from zoo.pipeline.task import NodeResult, Task
from zoo.store.actions import ActionEntry, OutputFile
from zoo.store.blobs import BlobStore
from zoo.store.local import LocalStore
from zoo.store.remote import CorruptBlob
from zoo.store.tiers import Tiered

WAITING = "another process is computing this step"


def execute_node(task: Task, store: LocalStore, on_event: EventCallback | None = None,
                 tier: Tiered | None = None) -> NodeResult:
    """Run `task` against `store` (or find it cached); raise a `ZooError` when the step fails."""
    emit = on_event or ignore
    hit = cached_result(task, store, tier, emit)
    if hit is not None:
        return hit
    model, kind = task.model, task.kind
    reasons = [f"forced (--force {kind})"] if task.forced else explain(
        store.actions.last(model.stem, kind), task.ingredients, key=task.key)
    with store.key_lock(task.key, on_wait=lambda: emit(Event("step_waiting", model.id, kind, message=WAITING))):
        hit = cached_result(task, store, tier, emit)
        if hit is not None:
            return hit
        emit(Event("step_started", model.id, kind, message="; ".join(reasons)))
        start = time.monotonic()
        with store.work_folder(task.key) as workdir:
            if tier is not None:  # a cluster worker starts with none of its inputs
                tier.fetch_blobs(o.digest for entry in task.upstream.values() for o in entry.outputs.values())
            inputs = _stage_inputs(task, store.blobs, workdir / "inputs", _EventReport(task, emit))
            options = dataclasses.replace(task.options, downloads_dir=str(store.downloads))
            result = task.step.run(model, inputs, workdir, options)
            entry = _entry(task, _ingest(task, result, workdir, store.blobs), result, time.monotonic() - start)
        store.actions.put(entry)
        _share(entry, tier, emit, task)
    store.actions.set_last(model.stem, kind, task.key, task.ingredients)
    return NodeResult("ran", entry, entry.seconds, reasons)


def cached_result(task: Task, store: LocalStore, tier: Tiered | None = None,
                  emit: EventCallback = ignore) -> NodeResult | None:
    """The cached result of `task` (local store, then the remote tier), unless it is forced or there is none.

    A local hit the remote does not have yet is shared on the way.
    """
    if task.forced:
        return None
    entry = store.actions.get(task.key)
    if entry is not None:
        _share(entry, tier, emit, task, known=True)
    elif tier is not None:
        entry = _remote_hit(task, tier, emit)
    if entry is None:
        return None
    store.actions.set_last(task.model.stem, task.kind, task.key, task.ingredients)
    return NodeResult("cached", entry)


def _remote_hit(task: Task, tier: Tiered, emit: EventCallback) -> ActionEntry | None:
    """The remote's result for `task`, adopted locally. A corrupt one counts as no result (and is
    removed); an unreachable remote too, unless it is the only way results travel (`tier.required`)."""
    try:
        return tier.lookup(task.key, _transfer_events(task, emit, "pulling from the remote"))
    except CorruptBlob as exc:
        emit(Event("step_note", task.model.id, task.kind, message=f"{exc}; computing the step instead"))
    except RemoteError as exc:
        if tier.required:
            raise
        emit(Event("step_note", task.model.id, task.kind, message=f"{exc}; computing the step here"))
    return None


def _transfer_events(task: Task, emit: EventCallback, what: str) -> Callable[[int, int], None]:
    """Report a transfer's bytes as progress events of the task's node (the displays show a bar)."""
    def report(done: int, total: int) -> None:
        emit(Event("step_progress", task.model.id, task.kind, message=what, total=total, completed=done))

    return report


def _share(entry: ActionEntry, tier: Tiered | None, emit: EventCallback, task: Task, *, known: bool = False) -> None:
    """Push `entry` to the remote (blobs, then the entry); a failure fails the node only where the
    remote is the result's only way back (`tier.required`)."""
    if tier is None:
        return
    try:
        if known:
            tier.ensure_pushed(entry)
        else:
            tier.push(entry, _transfer_events(task, emit, "sharing with the remote"))
    except RemoteError as exc:
        if tier.required:
            raise
        emit(Event("step_note", task.model.id, task.kind, message=f"not shared with the remote: {exc}; "
                   "the next run shares it"))



class _EventReport(StepReport):
    """A step's progress and notes, as events of its node."""

    def __init__(self, task: Task, emit: EventCallback):
        self._model, self._kind, self._emit = task.model.id, task.kind, emit
        self._total: int | None = None
        self._completed = 0

    def start(self, total: int | None, completed: int = 0) -> None:
        self._total, self._completed = total, completed
        self._progress()

    def advance(self, amount: int) -> None:
        self._completed += amount
        self._progress()

    def note(self, message: str) -> None:
        self._emit(Event("step_note", self._model, self._kind, message=message))

    def _progress(self) -> None:
        self._emit(Event("step_progress", self._model, self._kind, total=self._total, completed=self._completed))


def _stage_inputs(task: Task, blobs: BlobStore, folder: Path, report: StepReport) -> StepInputs:
    """Upstream outputs under their own file names, materialised from the store."""
    files: dict[str, dict[str, Path]] = {}
    metrics: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for kind, entry in task.upstream.items():
        metrics[kind], files[kind] = entry.metrics, {}
        for name, output in entry.outputs.items():
            if name in seen:
                raise StepError(f"two steps produce an output named {name!r}; output names must be unique")
            seen.add(name)
            files[kind][name] = folder / kind / output.name
            blobs.materialise(output.digest, files[kind][name])
    return StepInputs(files, metrics, report)


def _ingest(task: Task, result: StepResult, workdir: Path, blobs: BlobStore) -> dict[str, OutputFile]:
    """Move a step's output files into the blob store; return them by output name."""
    kind = task.kind
    if not isinstance(result, StepResult):
        raise StepError(f"step {kind} returned {type(result).__name__}, not a StepResult")
    outputs: dict[str, OutputFile] = {}
    root = workdir.resolve()
    for name, path in result.outputs.items():
        path = Path(path)
        if not path.is_file():
            raise StepError(f"step {kind} reported output {name!r} at {path}, which is not a file")
        if not path.resolve().is_relative_to(root):
            raise StepError(f"step {kind} wrote output {name!r} outside its work folder: {path}")
        relative = path.resolve().relative_to(root).as_posix()
        if relative == RECORD_NAME:
            raise StepError(f"step {kind} names an output {RECORD_NAME}, which is reserved for the record")
        digest, size = blobs.put_file(path, move=True)
        outputs[name] = OutputFile(name=relative, digest=digest, size=size)
    return outputs


def _entry(task: Task, outputs: dict[str, OutputFile], result: StepResult, seconds: float) -> ActionEntry:
    """The action entry to cache for a step that ran."""
    try:
        metrics = jsonable(result.metrics)
    except (TypeError, ValueError) as exc:
        raise StepError(f"step {task.kind} returned metrics that are not JSON: {exc}") from None
    return ActionEntry(key=task.key, kind=task.kind, ingredients=task.ingredients, outputs=outputs, metrics=metrics,
                       warnings=[str(w) for w in result.warnings], tool_versions=task.tools,
                       seconds=round(seconds, 3), worker=worker_name())


def worker_name() -> str:
    """Who computes here: the Dask worker's name and address on a cluster, else this host's name."""
    import socket
    import sys

    if "distributed" in sys.modules:  # only a process the Dask backend runs in has it loaded
        from distributed import get_worker

        try:
            worker = get_worker()
        except ValueError:  # a client process, not a worker
            pass
        else:
            return f"{worker.name} ({worker.address})"
    return socket.gethostname()
