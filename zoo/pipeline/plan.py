"""The plan: which steps each model needs, their cache keys, and why each will run or not.

A step's cache key is the sha256 of the canonical JSON of its *ingredients*:

    {"kind", "version", "fields": step.fields(model, options),
     "inputs": {needed kind: {output name: digest}}, "tools": {distribution: version}}

so it changes exactly when something the step reads changes. The ingredients are stored with
every cached result and, per model step, as the "last result" in the store; explaining a
step that will run is a diff of today's ingredients against those.

Planning reads manifests, the action cache and package metadata only: it never imports a
heavy framework.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from zoo.errors import StepError, ZooError
from zoo.manifest.schema import Model
from zoo.pipeline.steps.base import RunOptions, Step
from zoo.store.local import ActionEntry, LastResult, Store

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
    store: Store,
    *,
    steps: Sequence[Step] | None = None,
    force: Iterable[str] = (),
) -> Plan:
    """The plan for `models`, with every step's predicted key, cache hit and reasons."""
    if steps is None:
        from zoo.pipeline.steps import pipeline_steps

        steps = pipeline_steps()
    ordered = order_steps(steps)
    forced = check_force(force, ordered)
    nodes: dict[str, list[Node]] = {}
    for model in models:
        chosen = [s for s in ordered if s.applies(model, options)]
        present = {s.kind for s in chosen}
        nodes[model.id] = [
            Node(
                model=model,
                step=step,
                needs=tuple(n for n in step.needs if n in present),
                fields=jsonable(step.fields(model, options)),
                tools={name: tool_version(name) for name in sorted(step.tools_for(model))},
                forced=step.kind in forced,
            )
            for step in chosen
        ]
        predict(nodes[model.id], store)
    return Plan(models=list(models), nodes=nodes, options=options)


def predict(nodes: list[Node], store: Store) -> None:
    """Fill each node's predicted key, cached entry and reasons, in dependency order."""
    by_kind = {node.kind: node for node in nodes}
    for node in nodes:
        pending = [kind for kind in node.needs if by_kind[kind].will_run]
        last = store.last_result(node.model.stem, node.kind)
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
        node.entry = store.get_action(node.key)
        if node.forced:
            node.reasons = [f"forced (--force {node.kind})"]
        elif node.entry is None:
            node.reasons = explain(last, ingredients, key=node.key)


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
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


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
    if _DIGEST.match(text):
        return text[:12]
    from zoo.redaction import redact_text

    text = redact_text(text)
    return text if len(text) <= 40 else text[:37] + "..."
