"""`zoo diff`: existing deployment files, field by field, against what zoo renders for their model.

A maintainer auditing an existing zoo hands over its files (vdsp_params JSON in any dialect,
vamc build YAML, model_info JSON). Each is matched to a catalog model by its file name (or the
model name it holds); zoo renders that model (every profile, at the file's dtype) and parses
the file of the same dialect. Every field is then one of:

- **equal**;
- **format-only**: the same value written differently (224 and 224.0, a statistic and its
  float16 rounding, letter case, `./path` and `path`);
- **library agrees with zoo** / **library agrees with the file**: the field follows from the
  source library's own facts, and rendering the model as the library states them
  (`as_library_states`) writes what zoo writes, or what the file holds;
- **differs**: the library agrees with neither, was not consulted, or does not decide the
  field (dtype, paths, engine settings).

Which fields the library decides is found by rendering a *probe*: the library's model with every
fact changed (input size, resize, statistics, value range, colour order). A field that moves with
the probe follows from those facts; one that stays put is a deployment choice.
"""

from __future__ import annotations

import json
import posixpath
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from zoo.deploy.render import render_model
from zoo.errors import SelectionError, ZooError
from zoo.manifest.catalog import Catalog
from zoo.manifest.derived import fp16, scale_size
from zoo.manifest.schema import Color, Model, ValueRange
from zoo.sources.check import read_groups
from zoo.sources.compare import as_library_states, with_preprocessing

#: Every profile zoo renders; together they cover every dialect.
RENDERED_PROFILES = ("build_in", "sdk1")
#: Each dialect by the top-level keys that identify it (checked in this order).
DIALECTS = (
    ("vamc build YAML", ("frontend", "backend")),
    ("legacy vamc build YAML", ("model", "engine")),
    ("build_in vdsp_params", ("OpType", "OpConfig")),
    ("vamp vdsp_params", ("vdsp_op_type", "config")),
    ("sdk1.0 vdsp_params", ("vdsp_op_type",)),
    ("model_info", ("model_name", "model_lib_path")),
)
SUFFIXES = (".json", ".yaml", ".yml")
#: How a value missing on one side is shown.
ABSENT = "(absent)"
#: The library's value when the library was not consulted.
_UNKNOWN = object()


class Verdict(StrEnum):
    equal = "equal"
    format_only = "format-only"
    library_agrees_with_zoo = "library agrees with zoo"
    library_agrees_with_file = "library agrees with the file"
    differs = "differs"


@dataclass(frozen=True)
class FieldDiff:
    """One field of a file: its value there, in zoo's rendering, in the library's, and the verdict."""

    field: str
    verdict: Verdict
    file: Any
    zoo: Any
    library: Any = ABSENT


@dataclass
class FileAudit:
    """One audited file: what it is, which model it belongs to, and its fields (or why it was skipped)."""

    path: Path
    dialect: str | None = None
    model_id: str | None = None
    library: str = ""  # the config the library verdicts come from, or why there is none
    fields: list[FieldDiff] = field(default_factory=list)
    skipped: str | None = None

    def counts(self) -> Counter[Verdict]:
        return Counter(f.verdict for f in self.fields)


def audit_files(paths: Sequence[Path], catalog: Catalog, cache: Path, *, offline: bool = False,
                model_id: str | None = None) -> list[FileAudit]:
    """Audit every deployment file under `paths` (see the module docstring); `model_id` forces the model."""
    forced = _one_model(catalog, model_id) if model_id else None
    audits, documents, models = [], {}, {}
    for path in deployment_files(paths):
        audit = FileAudit(path)
        audits.append(audit)
        try:
            documents[path] = _parse(path)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            audit.skipped = f"cannot read it: {' '.join(str(exc).split())}"
            continue
        audit.dialect = dialect_of(documents[path])
        if audit.dialect is None:
            audit.skipped = "not a deployment file zoo knows (vdsp_params, vamc build YAML, model_info)"
            continue
        chosen = forced or _match(path, documents[path], catalog, audit)
        if chosen is not None:
            models[path] = chosen
    libraries = _library_models(catalog, list({m.id: m for m in models.values()}.values()), cache, offline)
    renders = _Renders()
    for audit in audits:
        model = models.get(audit.path)
        if model is not None:
            audit.model_id = model.id
            audit.library, library = libraries[model.id]
            _compare(audit, documents[audit.path], model, library, renders)
    return audits


def deployment_files(paths: Iterable[Path]) -> list[Path]:
    """The files given, and the JSON and YAML files inside the folders given, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
        else:
            found.append(path)
    return found


def dialect_of(document: Any) -> str | None:
    """The dialect a parsed file is written in, None when it is none zoo renders."""
    if isinstance(document, dict):
        return next((name for name, keys in DIALECTS if all(key in document for key in keys)), None)
    return None


def _parse(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def _one_model(catalog: Catalog, pattern: str) -> Model:
    chosen = catalog.select([pattern])
    if len(chosen) > 1:
        raise SelectionError(f"--model {pattern} selects {len(chosen)} models; name one (e.g. {chosen[0].id})")
    return chosen[0]


def _match(path: Path, document: dict[str, Any], catalog: Catalog, audit: FileAudit) -> Model | None:
    """The model a file belongs to: by its file name, else by the model name written in it."""
    stem = path.name
    for suffix in SUFFIXES:
        stem = stem.removesuffix(suffix)
    stem = stem.removesuffix("-vdsp_params").removeprefix("model_info_").lower()
    qualified = [m for m in catalog.models.values() if _names_in(stem, m.stem, f"{m.source.library}_{m.name}")]
    named = str(document.get("name") or document.get("model_name") or (document.get("model") or {}).get("name", ""))
    found = qualified or [m for m in catalog.models.values() if m.name.lower() in (stem, named.lower())]
    if len(found) == 1:
        return found[0]
    audit.skipped = (f"matches several models ({', '.join(sorted(m.id for m in found))}); give --model ID" if found
                     else "no model of the catalog matches its name; give --model ID")
    return None


def _names_in(stem: str, *names: str) -> bool:
    """Whether a file stem is, or holds between `-`/`_`/`.` separators, one of the qualified names."""
    return any(re.search(rf"(^|[-_.]){re.escape(name.lower())}($|[-_.])", stem) for name in names)


def _library_models(catalog: Catalog, models: list[Model], cache: Path,
                    offline: bool) -> dict[str, tuple[str, Model | None]]:
    """Per model id: which library config was read (or why none), and the model as the library states it."""
    found: dict[str, tuple[str, Model | None]] = {}
    for group in read_groups(catalog, models, cache, offline=offline):
        for model in group.models:
            config = group.config_of(model)
            if config is None:
                found[model.id] = (f"not consulted: {group.error or 'it has no such architecture'}", None)
                continue
            try:
                found[model.id] = (config.read_from, as_library_states(model, config))
            except ValueError as exc:  # the library's facts make no valid manifest
                found[model.id] = (f"not consulted: {' '.join(str(exc).split())}", None)
    return found


def _compare(audit: FileAudit, document: Any, model: Model, library: Model | None, renders: _Renders) -> None:
    audit.fields += compare_document(document, audit.dialect or "", model, library, renders)


def compare_document(document: Any, dialect: str, model: Model, library: Model | None,
                     renders: _Renders | None = None) -> list[FieldDiff]:
    """Every field of a parsed file of `dialect` against zoo's rendering of `model` (and `library`'s, if given)."""
    renders = renders or _Renders()
    dtype = _dtype_of(document)
    ours = flatten(renders.get(model, dtype).get(dialect))
    theirs = flatten(document)
    if library is not None:
        library_fields = flatten(renders.get(library, dtype).get(dialect))
        probe_fields = flatten(renders.get(probe(library), dtype).get(dialect))
    found = []
    for name in dict.fromkeys([*ours, *theirs]):
        mine, given = ours.get(name, ABSENT), theirs.get(name, ABSENT)
        if library is None:
            found.append(FieldDiff(name, _verdict(given, mine, _UNKNOWN, _UNKNOWN), given, mine))
            continue
        stated = library_fields.get(name, ABSENT)
        found.append(FieldDiff(name, _verdict(given, mine, stated, probe_fields.get(name, ABSENT)), given, mine, stated))
    return found


def _verdict(given: Any, mine: Any, stated: Any, probed: Any) -> Verdict:
    if given == mine and type(given) is type(mine):
        return Verdict.equal
    if same_value(given, mine):
        return Verdict.format_only
    if stated is _UNKNOWN or same_value(stated, probed):  # not consulted, or not a library fact
        return Verdict.differs
    if same_value(stated, mine):
        return Verdict.library_agrees_with_zoo
    if same_value(stated, given):
        return Verdict.library_agrees_with_file
    return Verdict.differs


def same_value(a: Any, b: Any) -> bool:
    """Whether two values mean the same, however they are written (see the module docstring)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b or fp16(float(a)) == fp16(float(b))
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower() or _path(a) == _path(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _path(text: str) -> str:
    return posixpath.normpath(text.strip()).removeprefix("./")


def flatten(document: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves by dotted path; list items of dicts are named by their `Property` or `type` when unique."""
    if isinstance(document, dict) and document:
        items: Iterable[tuple[str, Any]] = ((f"{prefix}.{k}" if prefix else str(k), v) for k, v in document.items())
    elif isinstance(document, list) and document and all(isinstance(item, dict) for item in document):
        label = next((key for key in ("Property", "type")
                      if len({str(item.get(key)) for item in document}) == len(document)), None)
        items = ((f"{prefix}[{item[label] if label else index}]", item) for index, item in enumerate(document))
    else:
        return {prefix: document} if prefix else {}
    flat: dict[str, Any] = {}
    for name, value in items:
        flat.update(flatten(value, name))
    return flat


def _dtype_of(document: Any) -> str | None:
    """The dtype a vamc build file compiles for (None: the file does not say; the manifest's applies)."""
    if isinstance(document.get("backend"), dict):
        return document["backend"].get("dtype")
    engine = document.get("engine")
    if isinstance(engine, dict) and isinstance(engine.get("common"), dict):
        return "int8" if engine["common"].get("do_quantization") else "fp16"
    return None


def probe(model: Model) -> Model:
    """`model` with every library fact changed, so that the fields following from them move."""
    pre = model.preprocess
    channels, height, width = model.input_size
    byte = pre.value_range == ValueRange.byte
    scale = 1 / 255 if byte else 255.0  # to the other value range
    return with_preprocessing(model, {
        "input_size": (channels, height + 32, width + 32),
        "preprocess": {
            "resize": max(scale_size(pre, height, width)) + 48,
            "mean": [(m * 0.9 + (2.55 if byte else 0.01)) * scale for m in pre.mean],
            "std": [(s * 1.1 + (2.55 if byte else 0.01)) * scale for s in pre.std],
            "value_range": ValueRange.unit if byte else ValueRange.byte,
            "color": Color.RGB if pre.color == Color.BGR else Color.BGR,
        },
    })


class _Renders:
    """zoo's files for a model at a dtype, parsed, by dialect; rendered once each."""

    def __init__(self) -> None:
        self._done: dict[tuple[str, str | None], dict[str, Any]] = {}

    def get(self, model: Model, dtype: str | None) -> dict[str, Any]:
        key = (model.model_dump_json(), dtype)
        if key not in self._done:
            self._done[key] = self._render(model, dtype)
        return self._done[key]

    @staticmethod
    def _render(model: Model, dtype: str | None) -> dict[str, Any]:
        parsed: dict[str, Any] = {}
        with tempfile.TemporaryDirectory(prefix="zoo-diff-") as scratch:
            for profile in RENDERED_PROFILES:
                try:
                    result = render_model(model, out_dir=Path(scratch), profile=profile, dtype=dtype)
                except ZooError:  # a dialect that cannot describe this model (e.g. vamp and a non-square input)
                    continue
                for file in result.files:
                    document = _parse(file)
                    parsed[dialect_of(document) or file.name] = document
        return parsed
