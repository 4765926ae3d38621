"""Find, load, merge and validate manifests; select models by id, glob and filters.

A broken file never stops the others: its problems are collected in `Catalog.problems`
and reported by `zoo lint` (and mentioned by every other command).
"""

from __future__ import annotations

import difflib
import fnmatch
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from zoo.errors import ManifestError, Problem, SelectionError
from zoo.manifest.fileurls import refused_file_urls
from zoo.manifest.located import LocatedDocument, dotted, load_located
from zoo.manifest.lockfile import apply_locks, is_lock_file, manifest_of
from zoo.manifest.schema import Family, Model, deep_merge

#: The zoo's own manifests, shipped inside the package.
SHIPPED_MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"
#: Extra manifest folders, separated like PATH.
MANIFESTS_ENV = "ZOO_MANIFESTS"
#: `1` leaves the shipped manifests out: a team's own zoo alone, without the models zoo ships.
NO_SHIPPED_ENV = "ZOO_NO_SHIPPED"


@dataclass(frozen=True)
class FamilyInfo:
    """A family's own fields (without its models), plus the file it came from."""

    family: Family
    file: Path


@dataclass
class Catalog:
    """Every model that validated, keyed by id, and every problem found on the way."""

    models: dict[str, Model] = field(default_factory=dict)
    families: dict[str, FamilyInfo] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def family_models(self, family: str) -> list[Model]:
        return [m for m in self.models.values() if m.family == family]

    def select(
        self,
        patterns: Sequence[str] = (),
        *,
        all_models: bool = False,
        family: str | None = None,
        source: str | None = None,
        tag: str | None = None,
    ) -> list[Model]:
        """Models matching any pattern (id, bare name, or case-insensitive glob) and every filter.

        With no patterns, `all_models` or a filter is required. Raises `SelectionError` naming
        close matches when a pattern matches nothing.
        """
        if not patterns and not (all_models or family or source or tag):
            raise SelectionError("name a model id (e.g. timm/cspresnet50), a glob, a filter, or --all")
        chosen = list(self.models.values())
        if patterns:
            chosen = []
            for pattern in patterns:
                found = self._match(pattern)
                if not found:
                    raise SelectionError(self._unknown(pattern))
                chosen.extend(m for m in found if m not in chosen)
        if family:
            chosen = [m for m in chosen if m.family.lower() == family.lower()]
        if source:
            chosen = [m for m in chosen if m.source.library == source.lower()]
        if tag:
            chosen = [m for m in chosen if tag in m.tags]
        if not chosen:
            raise SelectionError("the filters selected no model; `zoo list` shows what there is")
        return sorted(chosen, key=lambda m: m.id.lower())

    def _match(self, pattern: str) -> list[Model]:
        lowered = pattern.lower()
        glob = any(ch in pattern for ch in "*?[")
        matches = []
        for model in self.models.values():
            candidates = (model.id.lower(), model.name.lower())
            if glob:
                hit = any(fnmatch.fnmatchcase(c, lowered) for c in candidates)
            else:
                hit = lowered in candidates
            if hit:
                matches.append(model)
        return matches

    def _unknown(self, pattern: str) -> str:
        names = sorted({m.id for m in self.models.values()} | {m.name for m in self.models.values()})
        lowered = {n.lower(): n for n in names}
        close = difflib.get_close_matches(pattern.lower(), list(lowered), n=5, cutoff=0.6)
        message = f"no model matches {pattern!r}"
        if close:
            message += "; did you mean: " + ", ".join(lowered[c] for c in close) + "?"
        else:
            message += "; `zoo list` shows every model"
        broken = {p.file.name for p in self.problems}
        if broken:
            message += f" (note: {len(broken)} manifest file(s) failed to load; run `zoo lint`)"
        return message


def manifest_dirs(extra: Iterable[Path | str] = ()) -> list[Path]:
    """Shipped manifests (unless `$ZOO_NO_SHIPPED` is 1), then `$ZOO_MANIFESTS`, then folders given
    on the command line."""
    dirs = [] if os.environ.get(NO_SHIPPED_ENV) == "1" else [SHIPPED_MANIFESTS]
    env = os.environ.get(MANIFESTS_ENV, "")
    dirs += [Path(p) for p in env.split(os.pathsep) if p]
    dirs += [Path(p) for p in extra]
    return dirs


def manifest_files(paths: Iterable[Path]) -> list[Path]:
    """YAML files under each path (a path may also be a single file), in a stable order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*")
                            if p.suffix in (".yaml", ".yml") and p.is_file() and not is_lock_file(p))
        elif path.is_file():
            # naming a lock file means the manifest it pins (which applies it when loaded)
            files.append(manifest_of(path) if is_lock_file(path) else path)
    return files


def load_catalog(extra_dirs: Iterable[Path | str] = (), *, files: Sequence[Path] | None = None) -> Catalog:
    """Load every manifest; collect problems instead of stopping at the first broken file."""
    catalog = Catalog()
    if files is None:
        dirs = manifest_dirs(extra_dirs)
        for path in (d for d in dirs if d != SHIPPED_MANIFESTS):
            if not path.exists():
                catalog.problems.append(
                    Problem(path, 1, 1, "", "manifest folder does not exist", "check --manifests / $ZOO_MANIFESTS")
                )
        files = manifest_files(dirs)
    seen: dict[str, tuple[Path, tuple[int, int]]] = {}
    for file in files:
        catalog.files.append(file)
        try:
            doc = load_located(file)
            family, models, problems = load_family(doc)
            models = apply_locks(file, models, problems)  # pins written by `zoo lock`
        except ManifestError as exc:
            catalog.problems.extend(exc.problems)
            continue
        catalog.problems.extend(problems)
        if family.family in catalog.families:
            other = catalog.families[family.family].file
            line, col = doc.locate(("family",))
            catalog.problems.append(
                Problem(file, line, col, "family", f"family `{family.family}` is also defined in {other}",
                        "family slugs must be unique; rename one")
            )
            continue
        catalog.families[family.family] = FamilyInfo(family, file)
        for index, model in models:
            position = doc.locate(("models", index, "name"))
            if model.id in seen:
                first_file, (first_line, _) = seen[model.id]
                catalog.problems.append(
                    Problem(file, *position, f"models[{index}].name", f"model id `{model.id}` is not unique",
                            f"first defined at {first_file}:{first_line}; rename one")
                )
                continue
            seen[model.id] = (file, position)
            catalog.models[model.id] = model
    return catalog


def load_family(doc: LocatedDocument) -> tuple[Family, list[tuple[int, Model]], list[Problem]]:
    """Validate a family document, then each merged model on its own.

    A broken family header raises `ManifestError`; a broken model is returned as problems
    so that its siblings in the same file stay usable.
    """
    if not isinstance(doc.data, dict):
        raise ManifestError([Problem(doc.file, 1, 1, "", "a manifest must be a mapping", "start with `family:`")])
    try:
        family = Family.model_validate(doc.data)
    except ValidationError as exc:  # the header is broken; still report what is wrong with each model
        problems = _problems(exc, doc, (), Family, data=doc.data)
        raw_models, defaults = doc.data.get("models"), doc.data.get("defaults")
        if isinstance(raw_models, list) and isinstance(defaults, dict | None):
            header = {"family": str(doc.data.get("family")), "dataset": str(doc.data.get("dataset", "ImageNet-1k")),
                      "defaults": defaults or {}}
            problems += _load_models(doc, header, raw_models)[1]
        raise ManifestError(problems) from None
    header = {"family": family.family, "dataset": family.dataset, "defaults": family.defaults}
    models, problems = _load_models(doc, header, family.models)
    return family, models, problems


def _load_models(doc: LocatedDocument, header: dict[str, Any],
                 entries: list[Any]) -> tuple[list[tuple[int, Model]], list[Problem]]:
    """Merge `defaults` into each entry and validate it on its own: one broken model spares the rest."""
    problems: list[Problem] = []
    models: list[tuple[int, Model]] = []
    for index, raw in enumerate(entries):
        if not isinstance(raw, dict):
            line, col = doc.locate(("models", index))
            problems.append(Problem(doc.file, line, col, f"models[{index}]", "each model must be a mapping", ""))
            continue
        merged = deep_merge(header["defaults"], raw)
        merged.setdefault("family", header["family"])
        merged.setdefault("dataset", header["dataset"])
        try:
            model = Model.model_validate(merged)
        except ValidationError as exc:
            problems += _problems(exc, doc, ("models", index), Model, fallback=("defaults",), data=merged)
            continue
        refused = refused_file_urls(model, doc.file.parent)
        if refused:
            problems += [_located(doc, ("models", index, *path), message, hint) for path, message, hint in refused]
            continue
        models.append((index, model))
    return models, problems


def _located(doc: LocatedDocument, path: tuple[str | int, ...], message: str, hint: str) -> Problem:
    """A problem at `path` of a model entry, or at the same field of `defaults` if the value came from there."""
    if path not in doc.positions and ("defaults", *path[2:]) in doc.positions:
        path = ("defaults", *path[2:])
    return Problem(doc.file, *doc.locate(path), dotted(path), message, hint)


def _problems(
    exc: ValidationError,
    doc: LocatedDocument,
    prefix: tuple[str | int, ...],
    schema: type[BaseModel],
    fallback: tuple[str, ...] | None = None,
    data: Any = None,
) -> list[Problem]:
    """Turn pydantic errors into located problems with a hint where one helps (`data`: what was validated)."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = _clean_loc(error["loc"], data)
        path = (*prefix, *loc)
        if fallback is not None and path not in doc.positions and (*fallback, *loc) in doc.positions:
            path = (*fallback, *loc)  # the value came from the family defaults
        line, col = doc.locate(path)
        message, hint = _explain(error, loc, schema)
        problems.append(Problem(doc.file, line, col, dotted(path), message, hint))
    return problems


def _clean_loc(loc: tuple[Any, ...], data: Any) -> tuple[str | int, ...]:
    """Drop pydantic's internal steps (validator names, union branches) from an error path.

    A step that is a key of the validated data at that point is the user's, whatever it holds
    (`a[b]` included); only the others are looked at as pydantic's own.
    """
    cleaned = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(part, str) and (part.startswith(("function-", "tagged-union")) or "[" in part):
            continue
        else:
            node = None
        cleaned.append(part)
    return tuple(cleaned)


def _explain(error: ErrorDetails, loc: tuple[str | int, ...], schema: type[BaseModel]) -> tuple[str, str]:
    kind = error["type"]
    if kind == "extra_forbidden" and loc:
        key = str(loc[-1])
        known = _field_names_at(schema, loc[:-1])
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"did you mean `{close[0]}`?" if close else f"known fields: {', '.join(sorted(known))}"
        return f"unknown field `{key}`", hint
    if kind == "missing":
        return "required field is missing", f"add `{loc[-1]}:`" if loc else ""
    if kind == "enum":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{error['input']!r} is not allowed", f"use one of {expected}"
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return message, ""


def _field_names_at(schema: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """Field names (by alias) of the pydantic model found by walking `loc` from `schema`."""
    current: Any = schema
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", {})
        match = next((f for n, f in fields.items() if (f.alias or n) == part), None)
        if match is None:
            return []
        current = _model_in(match.annotation)
        if current is None:
            return []
    fields = getattr(current, "model_fields", {})
    return [f.alias or n for n, f in fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel class inside an annotation such as `X | None` or `tuple[X, ...]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
