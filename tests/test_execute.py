"""`execute_node` on its own, against a real local store: no scheduler, no backend."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.factories import ROOT, SLEEP_ENV, Build, Source, load_models, marks, write_tiny_manifest
from zoo.manifest.schema import Model
from zoo.pipeline.events import Event
from zoo.pipeline.execute import WAITING, execute_node
from zoo.pipeline.plan import cache_key, jsonable, output_digests
from zoo.pipeline.steps.base import RunOptions, Step
from zoo.pipeline.task import Task
from zoo.store.actions import ActionEntry
from zoo.store.local import LocalStore


def a_model(tmp_path: Path, name: str = "alpha") -> Model:
    return load_models(write_tiny_manifest(tmp_path / "manifests", [name]))[f"timm/{name}"]


def task_for(model: Model, step: Step, store: LocalStore, *, upstream: dict[str, ActionEntry] | None = None,
             forced: bool = False) -> Task:
    upstream = upstream or {}
    ingredients = {"kind": step.kind, "version": step.version, "fields": jsonable(step.fields(model, RunOptions())),
                   "inputs": {kind: output_digests(entry) for kind, entry in upstream.items()}, "tools": {}}
    return Task(model=model, step=step, key=cache_key(ingredients), ingredients=ingredients, upstream=upstream,
                options=RunOptions(), tools={}, store_root=str(store.root), forced=forced)


def test_a_miss_runs_and_stores_then_a_hit_is_cached(tmp_path: Path, markers: Path) -> None:
    store = LocalStore(tmp_path / "store")
    model = a_model(tmp_path)
    events: list[Event] = []
    task = task_for(model, Source(), store)
    first = execute_node(task, store, events.append)
    assert first.status == "ran" and first.reasons == ["no cache entry (never built in this store)"]
    assert [e.event for e in events] == ["step_started"]
    output = first.entry.outputs["src"]
    assert output.name == "timm-alpha.src.txt"
    with store.blobs.open(output.digest) as blob:
        assert blob.read() == b"alpha [3, 32, 32] seed=0\n"
    assert store.actions.get(task.key) == first.entry
    last = store.actions.last(model.stem, "source")
    assert last is not None and last.key == task.key
    assert not list(store.work.iterdir())

    second = execute_node(task, store)
    assert (second.status, second.entry) == ("cached", first.entry)
    assert len(marks(markers, model.stem, "source")) == 1

    built = execute_node(task_for(model, Build(), store, upstream={"source": first.entry}), store)
    assert built.status == "ran" and built.entry.metrics["inputs"] == ["src"]  # upstream outputs were staged


def test_a_forced_node_runs_again(tmp_path: Path, markers: Path) -> None:
    store = LocalStore(tmp_path / "store")
    model = a_model(tmp_path)
    execute_node(task_for(model, Source(), store), store)
    forced = execute_node(task_for(model, Source(), store, forced=True), store)
    assert forced.status == "ran" and forced.reasons == ["forced (--force source)"]
    assert len(marks(markers, model.stem, "source")) == 2


def test_two_threads_on_one_key_compute_it_once(tmp_path: Path, markers: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SLEEP_ENV, "1")
    store = LocalStore(tmp_path / "store")
    model = a_model(tmp_path, "slow")
    source = execute_node(task_for(model, Source(), store), store).entry
    task = task_for(model, Build(), store, upstream={"source": source})
    events: list[Event] = []
    results = []
    threads = [threading.Thread(target=lambda: results.append(execute_node(task, store, events.append)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(r.status for r in results) == ["cached", "ran"]
    assert results[0].entry == results[1].entry
    assert len(marks(markers, model.stem, "build")) == 1
    assert Event("step_waiting", "timm/slow", "build", message=WAITING) in events


_PROCESS = """
import pickle, sys
from zoo.pipeline.execute import execute_node
from zoo.store.local import LocalStore
task = pickle.loads(open(sys.argv[1], "rb").read())
print(execute_node(task, LocalStore(task.store_root)).status)
"""


def test_two_processes_on_one_key_compute_it_once(tmp_path: Path, markers: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A task is a picklable description: another process runs it against the same store root."""
    store = LocalStore(tmp_path / "store")
    model = a_model(tmp_path, "slow")
    source = execute_node(task_for(model, Source(), store), store).entry
    task_file = tmp_path / "task.pickle"
    task_file.write_bytes(pickle.dumps(task_for(model, Build(), store, upstream={"source": source})))
    env = {**os.environ, SLEEP_ENV: "2", "PYTHONPATH": str(ROOT)}
    processes = [subprocess.Popen([sys.executable, "-c", _PROCESS, str(task_file)], env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert sorted(out.strip() for out, _ in outputs) == ["cached", "ran"]
    assert len(marks(markers, model.stem, "build")) == 1
