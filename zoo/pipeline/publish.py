"""Publishing a model's results: `out/<model stem>/` and its `record.json`, written only here.

When all steps of a model are settled, the outputs of its successful steps (those with
`Step.publish`) are materialised into the model's folder (hard links into the store, else
copies) and the record is written last, atomically. A file already in the folder stays only
if it is the blob itself or hashes to the digest the record states: what is in the folder is
always what the record says. Files an earlier record listed and this one does not are
removed; a step that failed this time keeps the files its earlier success published (its
record entry says so), so a failure never takes a good deploy file away. A model that never
started is not published, so its folder stays as it was.

A measure plan (`zoo eval`, `zoo bench`) adds to the record it was planned from: the steps it
only looked up keep their entries as they were, and its opt-in step is set. An opt-in step
that failed leaves the record's earlier result of that kind in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from zoo import __version__
from zoo.errors import StoreError
from zoo.manifest.schema import Model
from zoo.pipeline.plan import Node, Plan, model_digest
from zoo.pipeline.record import Record, StepRecord, read_record, read_records
from zoo.pipeline.task import StepOutcome
from zoo.store.blobs import BlobStore
from zoo.store.local import LocalStore
from zoo.store.locks import hold


def publish_model(store: LocalStore, out_dir: Path, plan: Plan, model: Model,
                  outcomes: Mapping[str, StepOutcome]) -> Path:
    """Materialise the model's outputs and write its record; return the record's path.

    `outcomes` holds the outcome of every node of the model, by step kind.
    """
    folder = out_dir / model.stem
    folder.mkdir(parents=True, exist_ok=True)
    # beside the folder, so that the folder holds only outputs and the record
    with hold(out_dir / f".{model.stem}.record.lock"):
        previous = read_record(folder)
        record, written = _new_record(plan, model, outcomes, previous)
        _place_outputs(store.blobs, folder, model, written)
        _remove_stale(folder, previous, record)
        return record.write(folder)


def kept_by_records(store: LocalStore, record_roots: Iterable[Path]) -> tuple[set[str], set[str]]:
    """(keys, digests) `zoo store gc` keeps: the last result of every model step, plus every
    step and output named by the records under `record_roots`."""
    keys = {last.key for last in store.actions.lasts()}
    digests: set[str] = set()
    for root in record_roots:
        for record in read_records(root).values():
            for step in record.steps.values():
                keys.add(step.key)
                digests.update(o.digest for o in step.outputs.values())
    return keys, digests


def _new_record(plan: Plan, model: Model, outcomes: Mapping[str, StepOutcome],
                previous: Record | None) -> tuple[Record, list[tuple[Node, StepOutcome]]]:
    """The record to write, and the nodes whose step entries it takes from this run."""
    if plan.measure and previous is not None:
        record = previous.model_copy(deep=True)
    else:
        record = Record(model_id=model.id, manifest_digest=model_digest(model), zoo_version=__version__,
                        random_weights=plan.options.random_weights)
    written: list[tuple[Node, StepOutcome]] = []
    for node in plan.nodes[model.id]:
        outcome = outcomes[node.kind]
        earlier = previous.steps.get(node.kind) if previous is not None else None
        looked_up = plan.measure and outcome.status == "cached" and earlier is not None and earlier.key == outcome.key
        if looked_up or (node.step.opt_in and not outcome.ok):
            if earlier is not None:
                record.steps[node.kind] = earlier
            continue
        record.steps[node.kind] = _step_record(node, outcome, earlier)
        written.append((node, outcome))
    return record, written


def _step_record(node: Node, outcome: StepOutcome, earlier: StepRecord | None) -> StepRecord:
    """The step's entry in the record. A failed or skipped step keeps the files an earlier run
    published (they stay in the folder and in the record, with a warning saying whose they are)."""
    step = StepRecord(kind=node.kind, key=outcome.key, status=outcome.status, tool_versions=node.tools,
                      seconds=round(outcome.seconds, 3), error=outcome.error)
    if not outcome.ok and earlier is not None and earlier.outputs:
        step.outputs = dict(earlier.outputs)
        step.warnings = [f"this run's {node.kind} step did not succeed; the files are those of the earlier "
                         f"run with key {earlier.key[:12]}"]
    entry = outcome.entry
    if entry is not None:
        step.outputs, step.metrics, step.warnings = dict(entry.outputs), entry.metrics, entry.warnings
        step.worker = entry.worker
        step.seconds = entry.seconds if outcome.status == "cached" else step.seconds
    return step


def _place_outputs(blobs: BlobStore, folder: Path, model: Model, written: list[tuple[Node, StepOutcome]]) -> None:
    """Materialise the outputs of the published steps that succeeded (healing any stale copy)."""
    owners: dict[str, str] = {}
    for node, outcome in written:
        if outcome.entry is None or not node.step.publish:
            continue
        for output in outcome.entry.outputs.values():
            if owners.setdefault(output.name, node.kind) != node.kind:
                raise StoreError(f"{model.id}: steps {owners[output.name]} and {node.kind} both write "
                                 f"{output.name}; give the outputs distinct file names")
            blobs.materialise(output.digest, folder / output.name)


def _remove_stale(folder: Path, previous: Record | None, record: Record) -> None:
    """Delete the files an earlier record listed and this one does not."""
    if previous is None:
        return
    current = {o.name for step in record.steps.values() for o in step.outputs.values()}
    for step in previous.steps.values():
        for output in step.outputs.values():
            if output.name not in current:
                (folder / output.name).unlink(missing_ok=True)
