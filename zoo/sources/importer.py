"""`zoo import`: model entries written from a library's own configs into a family file.

Each architecture's `LibraryConfig` becomes a manifest entry (`model_entry`) holding only what
differs from the family's defaults and from the schema's own defaults, so that the file stays
as short as a hand-written one. A new family file gets as defaults what every imported model
shares. The text is inserted into the file (`zoo.manifest.edit`), so comments and layout stay.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from zoo.errors import LibraryConfigError, SelectionError
from zoo.manifest.catalog import Catalog
from zoo.manifest.edit import check_text, entry_text, new_family_text, with_models
from zoo.manifest.schema import STANDARD_CONFIG, Model
from zoo.sources import registry
from zoo.sources.config import ConfigQuery, LibraryConfig, is_glob

#: Fields a new family file takes into its defaults when every imported model shares them.
FAMILY_FIELDS = ("source.library", "source.version", "source.config", "weights.format", "expected.unit",
                 "expected.source", "reported.source")
#: ... and these too when two or more models share them.
SHARED_FIELDS = ("input_size", "num_classes", "preprocess.")
_MISSING = object()


@dataclass
class ImportPlan:
    """What `zoo import` would write: the whole new text of `file` and the entries it adds."""

    file: Path
    family: str
    text: str
    preview: str  # what --dry-run shows: the added entries, or the whole file when it is new
    added: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # architecture or id -> why


def split_spec(spec: str) -> tuple[str, str | None]:
    """`resnet*@0.6.5` -> (`resnet*`, `0.6.5`); without `@` the installed version is read."""
    name, _, version = spec.partition("@")
    return name, version or None


def plan_import(catalog: Catalog, library: str, specs: Sequence[str], *, family: str | None, into: Path | None,
                cache: Path, offline: bool = False, config: str | None = None) -> ImportPlan:
    """Read the configs `specs` name (ARCH[@VERSION], globs allowed) and lay out the file they go into."""
    if registry.get(library).config_files and config is None:
        raise LibraryConfigError(
            f"{library}'s package ships no eval configs: give --config with a path or URL of each model's config "
            "(`{arch}` stands for its name), or --config standard for the library's standard eval transform"
        )
    file, slug, existing = target_file(catalog, family, into)
    plan = ImportPlan(file, slug, text="", preview="")
    eval_config = _config_for(config, file)
    entries = []
    for config_read in _read(library, specs, cache, offline, config):
        entry, why = model_entry(config_read, eval_config)
        model_id = f"{library}/{config_read.arch}"
        if why is None and model_id in catalog.models:
            why = f"{model_id} is already in {catalog.families[catalog.models[model_id].family].file}"
        if why is not None:
            plan.skipped[config_read.arch] = why
            continue
        entries.append(entry)
        plan.added.append(model_id)
    return lay_out(plan, existing, entries, f"Imported from {library} by `zoo import`; edit freely.")


def lay_out(plan: ImportPlan, existing: str | None, entries: list[dict[str, Any]], header: str,
            about: dict[str, Any] | None = None) -> ImportPlan:
    """Fill in `plan`'s text: a new family file (`header` comment, `about` fields, shared defaults), or
    `entries` added to the `existing` text with only what differs from its defaults; checked."""
    if not entries:
        return plan
    if existing is None:
        defaults = shared_defaults([beyond_defaults(entry, {}) for entry in entries])
        entries = [beyond_defaults(entry, defaults) for entry in entries]
        plan.text = plan.preview = new_family_text(plan.family, defaults, entries, header, about)
    else:
        defaults = family_defaults(existing)
        entries = [beyond_defaults(entry, defaults) for entry in entries]
        plan.text = with_models(existing, entries, plan.file)
        plan.preview = "".join(entry_text(entry, 2) for entry in entries)
    check_text(plan.file, plan.text, plan.added)
    return plan


def model_entry(config: LibraryConfig, eval_config: str | None = None) -> tuple[dict[str, Any], str | None]:
    """The full manifest entry for one architecture, or why it cannot have one."""
    stated = config.fields()
    if "weights.url" not in stated:
        return {}, f"{config.read_from} publishes no weights for {config.arch}"
    if "weights.format" not in stated:
        return {}, f"{config.read_from}: the weights of {config.arch} ({stated['weights.url']}) are in a format zoo does not load"
    source = {"library": config.library, "version": config.version.split("+", 1)[0]}
    if eval_config:
        source["config"] = eval_config.replace("{arch}", config.arch)
    channels, height, width = config.input_size or (3, 0, 0)
    entry: dict[str, Any] = {
        "name": config.arch,
        "source": source,
        "weights": _block(stated, "weights."),
        "input_size": height if channels == 3 and height == width else [channels, height, width],
        "preprocess": _block(stated, "preprocess."),
        "num_classes": stated.get("num_classes"),
        "expected": _numbers(_block(stated, "expected."), config, unit="percent"),
        "reported": _numbers(_block(stated, "reported."), config),
    }
    return {key: value for key, value in entry.items() if value}, None


def _block(stated: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {name[len(prefix):]: list(value) if isinstance(value, tuple) else value
            for name, value in stated.items() if name.startswith(prefix)}


def _numbers(block: dict[str, Any], config: LibraryConfig, **extra: str) -> dict[str, Any]:
    return {**block, **extra, "source": config.numbers_source} if block else {}


def _read(library: str, specs: Sequence[str], cache: Path, offline: bool, config: str | None) -> list[LibraryConfig]:
    """Every configuration the specs select, one batch per version; a name that selects nothing is an error."""
    by_version: dict[str | None, list[str]] = {}
    for spec in specs:
        name, version = split_spec(spec)
        by_version.setdefault(version, []).append(name)
    found: list[LibraryConfig] = []
    for version, names in by_version.items():
        query = ConfigQuery(tuple(names), version, cache, offline, eval_config=config)
        configs = registry.get(library).read_configs(query)
        unknown = [n for n in names if not is_glob(n) and n not in configs]
        if unknown or not configs:
            what = ", ".join(unknown or names)
            raise SelectionError(f"{library} {version or '(installed)'} has no architecture matching {what}")
        found += configs.values()
    return found


def _config_for(config: str | None, file: Path) -> str | None:
    """`--config` as the manifest writes it: a local path relative to the manifest's folder."""
    if config is None or config == STANDARD_CONFIG or "://" in config:
        return config
    return os.path.relpath(Path(config).resolve(), file.resolve().parent)


def target_file(catalog: Catalog, family: str | None, into: Path | None) -> tuple[Path, str, str | None]:
    """The file to write, its family slug, and its text (None when it is to be created)."""
    if into is None:
        if family is None:
            raise SelectionError("say where the models go: --family F (an existing family) or --into FILE")
        if family not in catalog.families:
            raise SelectionError(f"there is no family {family!r}; give --into FILE to create its manifest")
        into = catalog.families[family].file
    if into.exists():
        return into, family or _slug_of(into), into.read_text(encoding="utf-8")
    return into, family or _slug_of(into), None


def _slug_of(file: Path) -> str:
    """A family slug from a file name: `My Nets.yaml` -> `my-nets`."""
    return "-".join(file.stem.lower().replace("_", "-").split()) or "imported"


def family_defaults(text: str) -> dict[str, Any]:
    import yaml

    loaded = yaml.safe_load(text) or {}
    defaults = loaded.get("defaults") if isinstance(loaded, dict) else None
    return defaults if isinstance(defaults, dict) else {}


def shared_defaults(entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What every entry states alike, among the fields a family's defaults usually hold."""
    shared: dict[str, Any] = {}
    for dotted, value in _leaves(entries[0]):
        chosen = dotted in FAMILY_FIELDS or (len(entries) > 1 and dotted.startswith(SHARED_FIELDS))
        if chosen and all(_same(_leaf(entry, dotted), value) for entry in entries):
            node = shared
            *parents, leaf = dotted.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
    return shared


def beyond_defaults(entry: dict[str, Any], defaults: dict[str, Any], path: tuple[str, ...] = ()) -> dict[str, Any]:
    """`entry` without what the family defaults (or, where they are silent, the schema) already say."""
    kept: dict[str, Any] = {}
    for key, value in entry.items():
        given = defaults.get(key, _MISSING)
        if isinstance(value, dict):
            inner = beyond_defaults(value, given if isinstance(given, dict) else {}, (*path, key))
            if inner:
                kept[key] = inner
        elif not _same(value, given if given is not _MISSING else schema_default(".".join((*path, key)))):
            kept[key] = value
    if path == ("preprocess",):  # `crop_pct` and `resize` exclude each other: silence the default's one
        for mine, other in (("crop_pct", "resize"), ("resize", "crop_pct")):
            if mine in entry and defaults.get(other) is not None:
                kept[other] = None
    return kept


def schema_default(dotted: str) -> Any:
    """The schema's default of a dotted manifest field (a sentinel when it has none)."""
    owner: Any = Model
    *parents, leaf = dotted.split(".")
    for part in parents:
        annotation = owner.model_fields[part].annotation if part in owner.model_fields else None
        owner = next((a for a in (annotation, *getattr(annotation, "__args__", ()))
                      if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if owner is None:
            return _MISSING
    found = owner.model_fields.get(leaf)
    if found is None or found.is_required():
        return _MISSING
    return found.get_default(call_default_factory=True)


def _leaves(tree: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    found = []
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        found += _leaves(value, dotted + ".") if isinstance(value, dict) else [(dotted, value)]
    return found


def _leaf(tree: dict[str, Any], dotted: str) -> Any:
    value: Any = tree
    for part in dotted.split("."):
        value = value.get(part, _MISSING) if isinstance(value, dict) else _MISSING
    return value


def _same(a: Any, b: Any) -> bool:
    return _plain(a) == _plain(b)


def _plain(value: Any) -> Any:
    """A value compared by meaning: enums by value, numbers as floats, sequences as lists."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
