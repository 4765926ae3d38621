"""The plan: which steps each model needs, their cache keys, and why each will run or not.

A step's cache key is the sha256 of the canonical JSON of its *ingredients*:

    {"kind", "version", "fields": step.fields(model, options),
     "inputs": {needed kind: {output name: digest}}, "tools": {distribution: version}}

so it changes exactly when something the step reads changes. The ingredients are stored with
every cached result and, per model step, as the "last result" in the store; explaining a
step that will run is a diff of today's ingredients against those.

Opt-in steps (eval, bench) are not part of a plain sync, but their last result is carried
into its plan, as a cached node, while the key recomputed from the last fields and today's
input digests is still in the action cache; otherwise it is dropped. `measure_plan` builds
the plan of `zoo eval` / `zoo bench`: the steps the measurement needs, pinned to the keys
the model's record names, plus the opt-in node itself.

Planning reads manifests, the action cache and package metadata only: it never imports a
heavy framework.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from zoo.errors import StepError, ZooError
from zoo.manifest.schema import Model
from zoo.names import is_sha256
from zoo.pipeline.record import Record
from zoo.pipeline.steps.base import RunOptions, Step
from zoo.store.actions import ActionEntry, LastResult
from zoo.store.local import LocalStore

#: The version recorded for a tool that is not installed (so installing it changes the key).
NOT_INSTALLED = "not installed"
#: `--force all` forces every step.
FORCE_ALL = "all"
_MAX_REASONS = 4


def canonical_json(value: Any) -> str:
    """The one JSON spelling of `value` (sorted keys, no spaces) that cache keys are hashed from."""
    from pydantic_core import to_jsonable_python

    return json.dumps(to_jsonable_python(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def jsonable(value: Any) -> Any:
    """`value` as plain JSON data, exactly as it is hashed (tuples become lists, enums strings)."""
    return json.loads(canonical_json(value))


def key_fields(step: Step, model: Model, options: RunOptions) -> dict[str, Any]:
    """The fields a step's key is hashed from, as stored in entries and shown in explanations:
    credentials are masked before anything is hashed or written, so no key depends on a token."""
    from zoo.redaction import redact_data

    return redact_data(jsonable(step.fields(model, options)))


def cache_key(ingredients: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(ingredients).encode("utf-8")).hexdigest()


@cache
def tool_version(distribution: str) -> str:
    """Installed version of a distribution, read from its metadata (nothing is imported)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return NOT_INSTALLED


def model_digest(model: Model) -> str:
    """sha256 of a model's resolved manifest entry (recorded as `manifest_digest`)."""
    return hashlib.sha256(canonical_json(model.model_dump(mode="json", by_alias=True)).encode()).hexdigest()


@dataclass
class Node:
    """One step of one model, with what the plan predicts for it."""

    model: Model
    step: Step
    needs: tuple[str, ...]
    fields: dict[str, Any]
    tools: dict[str, str]
    forced: bool = False
    #: Predicted key; None while an input is still to be recomputed.
    key: str | None = None
    #: The cached result, if the predicted key has one.
    entry: ActionEntry | None = None
    #: Whether that result is on the remote tier only (a sync pulls it instead of computing).
    on_remote: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.step.kind

    @property
    def will_run(self) -> bool:
        return self.entry is None or self.forced

    def ingredients(self, inputs: dict[str, dict[str, str]]) -> dict[str, Any]:
        """The key's ingredients, given the digests of the outputs of the needed steps."""
        return {
            "kind": self.kind,
            "version": self.step.version,
            "fields": self.fields,
            "inputs": {kind: dict(inputs.get(kind, {})) for kind in self.needs},
            "tools": self.tools,
        }


@dataclass
class Plan:
    """Every selected model's steps in dependency order, sharing one set of run options."""

    models: list[Model]
    nodes: dict[str, list[Node]]
    options: RunOptions
    #: A measure plan adds its opt-in step to each model's existing record (see `measure_plan`).
    measure: bool = False

    def all_nodes(self) -> list[Node]:
        return [node for model in self.models for node in self.nodes[model.id]]

    @property
    def cached_count(self) -> int:
        return sum(not n.will_run for n in self.all_nodes())


def order_steps(steps: Sequence[Step]) -> list[Step]:
    """Steps in dependency order (by `needs`), keeping the given order among independent ones."""
    placed: list[Step] = []
    known = {s.kind for s in steps}
    remaining = list(steps)
    while remaining:
        ready = next(
            (s for s in remaining if all(n in {p.kind for p in placed} or n not in known for n in s.needs)), None
        )
        if ready is None:
            cycle = ", ".join(s.kind for s in remaining)
            raise StepError(f"steps {cycle} need each other in a cycle; fix their `needs`")
        placed.append(ready)
        remaining.remove(ready)
    return placed


def check_force(force: Iterable[str], steps: Sequence[Step]) -> frozenset[str]:
    kinds = [s.kind for s in steps]
    forced = frozenset(force)
    unknown = sorted(forced - {*kinds, FORCE_ALL})
    if unknown:
        raise ZooError(f"--force {unknown[0]}: no such step; steps are {', '.join(kinds)} (or `all`)")
    return frozenset(kinds) if FORCE_ALL in forced else forced


def build_plan(
    models: Sequence[Model],
    options: RunOptions,
    store: LocalStore,
    *,
    steps: Sequence[Step] | None = None,
    force: Iterable[str] = (),
    opt_in: Sequence[Step] | None = None,
    remote: RemoteLookup | None = None,
) -> Plan:
    """The plan for `models`, with every step's predicted key, cache hit and reasons, plus the
    `opt_in` steps (default: every registered one) whose last result still holds.

    `remote` looks a key up in the remote tier when the local store has no result for it.
    """
    from zoo.pipeline.steps import opt_in_steps, pipeline_steps

    steps = pipeline_steps() if steps is None else steps
    opt_in = opt_in_steps() if opt_in is None else opt_in
    ordered = order_steps(steps)
    forced = check_force(force, ordered)
    for step in (*ordered, *opt_in):
        step.check_options(options)
    nodes: dict[str, list[Node]] = {}
    for model in models:
        chosen = [s for s in ordered if s.applies(model, options)]
        present = {s.kind for s in chosen}
        nodes[model.id] = [
            Node(
                model=model,
                step=step,
                needs=tuple(n for n in step.needs if n in present),
                fields=key_fields(step, model, options),
                tools={name: tool_version(name) for name in sorted(step.tools_for(model))},
                forced=step.kind in forced,
            )
            for step in chosen
        ]
        predict(nodes[model.id], store, remote)
        nodes[model.id] += carried(model, nodes[model.id], opt_in, store)
    return Plan(models=list(models), nodes=nodes, options=options)


def carried(model: Model, nodes: list[Node], opt_in: Sequence[Step], store: LocalStore) -> list[Node]:
    """Cached nodes for the opt-in steps whose last result still holds for these `nodes`."""
    by_kind = {node.kind: node for node in nodes}
    found: list[Node] = []
    for step in opt_in:
        last = store.actions.last(model.stem, step.kind)
        if last is None or last.ingredients.get("version") != step.version:
            continue
        needs = tuple(last.ingredients.get("inputs", {}))
        upstream = [by_kind.get(kind) for kind in needs]
        if any(node is None or node.will_run for node in upstream):
            continue
        node = Node(model=model, step=step, needs=needs, fields=last.ingredients.get("fields", {}),
                    tools=last.ingredients.get("tools", {}))
        node.key = cache_key(node.ingredients({kind: output_digests(by_kind[kind].entry) for kind in needs}))
        node.entry = store.actions.get(node.key)
        if node.entry is not None:
            found.append(node)
    return found


def measure_plan(model: Model, record: Record, store: LocalStore, step: Step, *,
                 steps: Sequence[Step] | None = None) -> Plan:
    """The plan that runs the opt-in `step` on the model's last sync, described by `record`.

    The steps it needs are pinned to the keys the record names and must still be cached (the
    measurement is of what was synced, not of what a sync would make today); the opt-in node
    is forced, because a command asked for a fresh measurement.
    """
    from zoo.pipeline.steps import pipeline_steps

    known = {s.kind: s for s in (pipeline_steps() if steps is None else steps)}
    options = RunOptions(random_weights=record.random_weights)
    nodes: dict[str, Node] = {}
    for kind in step.needs:
        _pin(model, record, store, known, kind, nodes)
    target = Node(model=model, step=step, needs=step.needs, fields=key_fields(step, model, options),
                  tools={name: tool_version(name) for name in sorted(step.tools_for(model))}, forced=True)
    ordered = [*nodes.values(), target]
    predict(ordered, store)
    stale = next((node for node in ordered[:-1] if node.will_run), None)
    if stale is not None:
        raise StepError(f"{model.id}: the {stale.kind} step of the last `zoo sync` no longer matches this zoo "
                        f"({'; '.join(stale.reasons)}); run `zoo sync {model.id}` again")
    return Plan(models=[model], nodes={model.id: ordered}, options=options, measure=True)


def _pin(model: Model, record: Record, store: LocalStore, known: dict[str, Step], kind: str,
         nodes: dict[str, Node]) -> None:
    """Add the node of `kind` as the record names it, after the nodes it needs."""
    if kind in nodes:
        return
    recorded = record.steps.get(kind)
    entry = store.actions.get(recorded.key) if recorded is not None and kind in known else None
    if entry is None:
        raise StepError(f"{model.id}: the {kind} result of the last `zoo sync` is not in the store "
                        f"(removed by `zoo store gc` or `verify`?); run `zoo sync {model.id}` again")
    ingredients = entry.ingredients
    node = Node(model=model, step=known[kind], needs=tuple(ingredients.get("inputs", {})),
                fields=ingredients.get("fields", {}), tools=ingredients.get("tools", {}))
    for need in node.needs:
        _pin(model, record, store, known, need, nodes)
    nodes[kind] = node


def predict(nodes: list[Node], store: LocalStore, remote: RemoteLookup | None = None) -> None:
    """Fill each node's predicted key, cached entry and reasons, in dependency order."""
    by_kind = {node.kind: node for node in nodes}
    for node in nodes:
        pending = [kind for kind in node.needs if by_kind[kind].will_run]
        last = store.actions.last(node.model.stem, node.kind)
        if pending:
            node.key, node.entry = None, None
            own = explain(last, node.ingredients({}), inputs_known=False) if last is not None else []
            node.reasons = [f"input{'s' if len(pending) > 1 else ''} {', '.join(pending)} will be recomputed", *own]
            if node.forced:
                node.reasons.insert(0, f"forced (--force {node.kind})")
            continue
        digests = {kind: output_digests(by_kind[kind].entry) for kind in node.needs}
        ingredients = node.ingredients(digests)
        node.key = cache_key(ingredients)
        node.entry = store.actions.get(node.key)
        if node.entry is None and remote is not None and not node.forced:
            node.entry = remote(node.key)
            node.on_remote = node.entry is not None
        if node.forced:
            node.reasons = [f"forced (--force {node.kind})"]
        elif node.entry is None:
            node.reasons = explain(last, ingredients, key=node.key)


#: Looks a cache key up in the remote tier: its entry, or None.
RemoteLookup = Callable[[str], "ActionEntry | None"]


def output_digests(entry: ActionEntry | None) -> dict[str, str]:
    return {} if entry is None else {name: out.digest for name, out in entry.outputs.items()}


def explain(
    last: LastResult | None, ingredients: dict[str, Any], *, key: str | None = None, inputs_known: bool = True
) -> list[str]:
    """Why a step with these ingredients has no cached result, compared with its last result.

    With `inputs_known` False (an input is still to be recomputed) inputs are not compared
    and an empty list means "nothing else changed".
    """
    if last is None:
        return ["no cache entry (never built in this store)"]
    if key is not None and last.key == key:
        return ["its cached result is gone from the store (removed by `zoo store verify` or `gc`)"]
    before = last.ingredients
    reasons: list[str] = []
    if before.get("version") != ingredients["version"]:
        reasons.append(f"step version {before.get('version')} -> {ingredients['version']}")
    old_fields, new_fields = _flatten(before.get("fields", {})), _flatten(ingredients["fields"])
    for name in sorted(old_fields.keys() | new_fields.keys()):
        if old_fields.get(name, _ABSENT) != new_fields.get(name, _ABSENT):
            old, new = old_fields.get(name, _ABSENT), new_fields.get(name, _ABSENT)
            reasons.append(f"field {name} changed ({_short(old)} -> {_short(new)})")
    old_inputs, new_inputs = before.get("inputs", {}), ingredients["inputs"]
    for kind in sorted(old_inputs.keys() | new_inputs.keys()) if inputs_known else ():
        if old_inputs.get(kind) != new_inputs.get(kind):
            reasons.append(f"input {kind} changed")
    old_tools, new_tools = before.get("tools", {}), ingredients["tools"]
    for name in sorted(old_tools.keys() | new_tools.keys()):
        if old_tools.get(name) != new_tools.get(name):
            reasons.append(f"tool {name} {old_tools.get(name, NOT_INSTALLED)} -> {new_tools.get(name, NOT_INSTALLED)}")
    if len(reasons) > _MAX_REASONS:
        reasons = [*reasons[:_MAX_REASONS], f"and {len(reasons) - _MAX_REASONS} more change(s)"]
    if not reasons and inputs_known:
        reasons.append("no cache entry for these inputs")
    return reasons


_ABSENT = object()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted paths (`deploy.opset`); lists stay values."""
    if not isinstance(value, dict) or not value:
        return {prefix: value} if prefix else {}
    flat: dict[str, Any] = {}
    for key, item in value.items():
        flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _short(value: Any) -> str:
    if value is _ABSENT:
        return "unset"
    text = value if isinstance(value, str) else json.dumps(value)
    if is_sha256(text):
        return text[:12]
    from zoo.redaction import redact_text

    text = redact_text(text)
    return text if len(text) <= 40 else text[:37] + "..."
