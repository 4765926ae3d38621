"""`zoo check`: every selected manifest model against its library's own config at the pinned version.

Models are grouped by library and pinned version, so that each group is one `read_configs`
batch (one child interpreter for timm). A disagreement is located at the line that sets the
field (the model's own entry, else the family defaults) and is an error unless the manifest
gives a written reason for that field in `deviations`. When the installed library is not the
pinned version, the check also says whether that changes the architecture's config: the
installed one is read too, where the library can read the pinned version at all.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from zoo.errors import ConfigsUnsupported, LibraryConfigError, ManifestError
from zoo.manifest.catalog import Catalog, load_family
from zoo.manifest.located import LocatedDocument, load_located
from zoo.manifest.schema import STANDARD_CONFIG, Model
from zoo.sources import registry
from zoo.sources.compare import RESIZE_FIELDS, Difference, differences, shown
from zoo.sources.config import ConfigQuery, LibraryConfig, same_release
from zoo.sources.packages import installed_version

#: The fields whose change between library versions changes what a model is fed or loads.
TRACKED_CHANGES = ("input_size", "num_classes", "weights.url")


@dataclass(frozen=True)
class Disagreement:
    """A manifest field that disagrees with the library, where it is set, and the manifest's reason if any."""

    model_id: str
    file: Path
    line: int
    difference: Difference
    read_from: str
    reason: str | None

    def __str__(self) -> str:
        d = self.difference
        text = f"{self.file}:{self.line}: {d.field}: manifest {d.manifest}, library {d.library} ({self.read_from})"
        return f"{text} (explained in deviations)" if self.reason else text


@dataclass
class CheckReport:
    """What `check_models` found: disagreements, models it could not check, and remarks."""

    checked: list[str] = field(default_factory=list)
    disagreements: list[Disagreement] = field(default_factory=list)
    unchecked: dict[str, str] = field(default_factory=dict)  # model id -> why (an error)
    unsupported: dict[str, str] = field(default_factory=dict)  # library -> why (nothing to check)
    notes: list[str] = field(default_factory=list)

    @property
    def unexplained(self) -> list[Disagreement]:
        return [d for d in self.disagreements if not d.reason]

    @property
    def ok(self) -> bool:
        return not self.unexplained and not self.unchecked


@dataclass
class LibraryGroup:
    """The models of one library pinned at one version, and what reading their configs gave."""

    library: str
    query: ConfigQuery
    models: list[Model]
    configs: dict[str, LibraryConfig] = field(default_factory=dict)
    error: LibraryConfigError | None = None

    def config_of(self, model: Model) -> LibraryConfig | None:
        return self.configs.get(arch_of(model))


def read_groups(catalog: Catalog, models: Sequence[Model], cache: Path, *,
                offline: bool = False) -> Iterator[LibraryGroup]:
    """Read the library configs of `models`, one batch per library and pinned version."""
    by_pin: dict[tuple[str, str], list[Model]] = defaultdict(list)
    for model in models:
        by_pin[(model.source.library, model.source.version or "")].append(model)
    for (library, version), members in sorted(by_pin.items()):
        query = ConfigQuery(
            names=tuple(dict.fromkeys(arch_of(m) for m in members)), version=version or None, cache=cache,
            offline=offline, weights={arch_of(m): m.weights.url for m in members if m.weights},
            eval_configs={arch_of(m): eval_config_path(catalog, m) for m in members if m.source.config},
        )
        group = LibraryGroup(library, query, members)
        try:
            group.configs = registry.get(library).read_configs(query)
        except LibraryConfigError as exc:
            group.error = exc
        yield group


def check_models(catalog: Catalog, models: Sequence[Model], cache: Path, *, offline: bool = False) -> CheckReport:
    """Compare each model with its library's config at its pinned version (see the module docstring)."""
    report = CheckReport()
    places = _Places(catalog)
    for group in read_groups(catalog, models, cache, offline=offline):
        if isinstance(group.error, ConfigsUnsupported):
            report.unsupported[group.library] = str(group.error)
            continue
        for model in group.models:
            config = group.config_of(model)
            if config is None:  # the read failed, or the library has no such architecture
                pinned = f" {group.query.version}" if group.query.version else ""
                report.unchecked[model.id] = str(group.error) if group.error else (
                    f"library {group.library}{pinned} has no architecture {arch_of(model)!r}")
                continue
            report.checked.append(model.id)
            report.notes += [f"{model.id}: {note}" for note in config.notes]
            _compare(model, config, places, report)
        if group.error is None:
            _version_notes(group.query, group.library, group.configs, report)
    return report


def arch_of(model: Model) -> str:
    return model.source.arch or model.name


def eval_config_path(catalog: Catalog, model: Model) -> str:
    """`source.config`, a relative path resolved against the folder of the model's manifest."""
    given = model.source.config or ""
    if given == STANDARD_CONFIG or "://" in given or Path(given).is_absolute():
        return given
    return os.path.normpath(catalog.families[model.family].file.parent / given)


def _compare(model: Model, config: LibraryConfig, places: _Places, report: CheckReport) -> None:
    found = differences(model, config)
    for difference in found:
        file, line = places.locate(model, tuple(difference.field.split(".")))
        reason = model.deviations.get(difference.field)
        report.disagreements.append(Disagreement(model.id, file, line, difference, config.read_from, reason))
    stated = set(config.fields())
    if stated & set(RESIZE_FIELDS):  # the size before cropping is one fact, written either way
        stated |= set(RESIZE_FIELDS)
    stale = sorted((set(model.deviations) - {d.field for d in found}) & stated)
    for name in stale:
        file, line = places.locate(model, ("deviations", name))
        report.notes.append(f"{file}:{line}: deviations.{name}: the manifest now agrees with {config.read_from}; "
                            "remove the reason")


def _version_notes(query: ConfigQuery, library: str, configs: dict[str, LibraryConfig], report: CheckReport) -> None:
    """Say when the installed library is not the pinned one, and whether that changes each config."""
    package, version = registry.get(library).package, query.version
    installed = installed_version(package) if package else None
    if version is None or installed is None or same_release(version, installed):
        return
    read = list(configs.values())
    if any(not same_release(c.version, version) for c in read):
        report.notes.append(f"{library} {version} is pinned but only the installed {package} {installed} can be "
                            f"read: {len(read)} model(s) were compared with it; whether {version}'s configs "
                            "differ is not known")
        return
    try:
        now = registry.get(library).read_configs(replace(query, version=None))
    except LibraryConfigError as exc:
        report.notes.append(f"{package} {installed} is installed, {version} pinned; cannot compare them: {exc}")
        return
    changes = {config.arch: _changes(config, now.get(config.arch)) for config in read}
    heading = f"{package} {installed} is installed, the manifests pin {version}"
    same = sorted(arch for arch, change in changes.items() if not change)
    if same:
        report.notes.append(f"{heading}: the config is the same in both for {', '.join(same)}")
    for arch, change in sorted(changes.items()):
        if change:
            report.notes.append(f"{heading}: {arch}'s config changes in {installed}: {change}")


def _changes(pinned: LibraryConfig, installed: LibraryConfig | None) -> str:
    """What differs between two versions' configs of one architecture ("" when nothing that matters)."""
    if installed is None:
        return "the architecture is gone"
    before, after = pinned.fields(), installed.fields()
    names = [n for n in dict.fromkeys([*before, *after])
             if before.get(n) != after.get(n) and (n.startswith("preprocess.") or n in TRACKED_CHANGES)]
    return ", ".join(f"{n} {shown(before.get(n))} -> {shown(after.get(n))}" for n in names)


class _Places:
    """Where each model's fields are written: its manifest file, and the line of a field."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._documents: dict[Path, tuple[LocatedDocument, dict[str, int]]] = {}

    def file_of(self, model: Model) -> Path:
        return self.catalog.families[model.family].file

    def locate(self, model: Model, parts: tuple[str, ...]) -> tuple[Path, int]:
        """The line that sets the field at `parts` for `model`: its own entry, else the family defaults, else its name."""
        file = self.file_of(model)
        document, indices = self._document(file)
        index = indices.get(model.id, 0)
        candidates: tuple[tuple[str | int, ...], ...] = (("models", index, *parts), ("defaults", *parts))
        for path in candidates:
            if path in document.positions:
                return file, document.positions[path][0]
        return file, document.locate(("models", index, "name"))[0]

    def _document(self, file: Path) -> tuple[LocatedDocument, dict[str, int]]:
        if file not in self._documents:
            try:
                document = load_located(file)
                indices = {model.id: index for index, model in load_family(document)[1]}
            except ManifestError:  # the catalog loaded it a moment ago; an edit since is not ours to fix
                document, indices = LocatedDocument(file, None), {}
            self._documents[file] = (document, indices)
        return self._documents[file]
