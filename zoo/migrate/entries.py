"""`zoo import vmz FAMILY_DIR`: a VastModelZOO family folder migrated into a family manifest.

Each README row of a library zoo converts becomes a model entry: the numbers (accuracy, FLOPs,
params, input size) from the row, everything else (weights, resize, statistics, colour) from the
library's own config at the version the row links, read by the `zoo import` machinery. Where the
row and the library disagree on a field `zoo check` compares, the row wins and the entry says so
in `deviations`. The family's build YAML settings (calibration, extra ops, counts) are adopted as
the model's `deploy` values. Then zoo renders the model and compares every field with the
family's vdsp file (`zoo.deploy.audit`); each difference goes into the entry's `upstream` block
with its verdict (`zoo.migrate.verdicts`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from zoo.deploy.audit import flatten
from zoo.errors import LibraryConfigError
from zoo.manifest.catalog import Catalog
from zoo.manifest.schema import STANDARD_CONFIG
from zoo.migrate.folder import Folder, Row, name_key, read_document, read_folder
from zoo.migrate.verdicts import upstream_block
from zoo.sources import registry
from zoo.sources.config import ConfigQuery, LibraryConfig
from zoo.sources.importer import ImportPlan, lay_out, model_entry, target_file

#: The libraries whose rows become models; other rows are listed as skipped, with why.
CONVERTIBLE = ("timm", "torchvision", "mmcls", "ppcls")
#: Where the public VastModelZOO keeps its classification families (the numbers' source).
VMZ_CLASSIFICATION = "https://github.com/Vastai/VastModelZOO/blob/main/cv/classification"
#: Why an `_ssld` model's weights are not the architecture's MODEL_URLS entry.
SSLD_REASON = ("PaddleClas's SSLD-distilled weights of the architecture: its loader (use_ssld) turns "
               "`_pretrained` into `_ssld_pretrained` in the MODEL_URLS address")
#: The release a library's rows are pinned to where neither the row nor the README names one
#: (VastModelZOO's timm rows link timm 0.6.5, a few link `master`).
PINNED = {"timm": "0.6.5"}
#: The libraries read at the version the rows link (a pinned wheel); the others at their installed version.
READ_AT_LINKED = ("timm", "ppcls")
_VERSION_IN_LINK = re.compile(r"/(?:blob|tree)/(?:release/)?v?(\d+(?:\.\d+)+)/")
_WHY_SKIPPED = "zoo has no {library} converter; convert it yourself and add it as an `onnx` model"


@dataclass(frozen=True)
class Resolved:
    """A README row with the library config it maps to."""

    row: Row
    config: LibraryConfig
    version: str | None  # the version the row links, written as `source.version`
    name: str  # the model's name in the manifest


def plan_vmz_import(catalog: Catalog, root: Path, cache: Path, *, family: str | None = None,
                    into: Path | None = None, offline: bool = False) -> ImportPlan:
    """Read a family folder and lay out the manifest text its convertible rows make (see the module docstring)."""
    folder = read_folder(root)
    slug = family or folder.family
    file, slug, existing = target_file(catalog, slug if into is None else family, into)
    plan = ImportPlan(file, slug, text="", preview="")
    entries = []
    for resolved in _resolve(folder, cache, offline, plan.skipped):
        entry = migrated_entry(folder, resolved, slug)
        model_id = f"{resolved.config.library}/{entry['name']}"
        if model_id in catalog.models or model_id in plan.added:
            plan.skipped[model_id] = f"already in the zoo ({catalog.models[model_id].family if model_id in catalog.models else slug})"
            continue
        entries.append(entry)
        plan.added.append(model_id)
    about: dict[str, Any] = {"title": folder.title}
    if folder.paper:
        about["paper"] = {"title": folder.paper[0], "url": folder.paper[1]}
    return lay_out(plan, existing, entries,
                   f"Migrated from VastModelZOO cv/classification/{folder.family} by `zoo import vmz`.", about)


def migrated_entry(folder: Folder, resolved: Resolved, family: str) -> dict[str, Any]:
    """The full manifest entry of one row: library facts, the row's numbers, deploy settings, verdicts."""
    row, config = resolved.row, resolved.config
    entry, _ = model_entry(config, STANDARD_CONFIG if config.library == "ppcls" else None)
    readme = f"{VMZ_CLASSIFICATION}/{folder.family}/README.md"
    entry["name"] = resolved.name
    entry["source"] = {**entry["source"], "repo": row.link}
    if resolved.name != config.arch:
        entry["source"]["arch"] = config.arch
    if resolved.version:
        entry["source"]["version"] = resolved.version
    if row.input_size:
        entry["input_size"] = row.input_size
        fit_resize(entry, folder, row)
    entry["expected"] = _present({"top1": row.top1, "top5": row.top5, "unit": "percent", "source": readme})
    notes = [f"VastModelZOO's `{row.cost_header}` column gives {row.cost}"
             + (" multiply-accumulates; FLOPs count two operations each" if "mac" in row.cost_header.lower() else "")
             ] if row.cost is not None else []
    entry["reported"] = _present({"flops_g": row.flops_g, "params_m": row.params_m, "source": readme,
                                  "flops_convention": "2macs" if row.flops_g is not None else None,
                                  "notes": notes or None})
    build = folder.builds.get(config.library)
    if build is not None:
        entry["deploy"] = build.values()
    entry["deviations"] = deviations(entry, config, row, family)
    if resolved.name != config.arch and config.library == "ppcls":
        entry["deviations"]["weights.url"] = SSLD_REASON
    entry["upstream"] = upstream_block(folder, row, entry, config, family, f"{VMZ_CLASSIFICATION}/{folder.family}")
    return {key: value for key, value in entry.items() if value}


def fit_resize(entry: dict[str, Any], folder: Folder, row: Row) -> None:
    """A stated resize smaller than the table's input size (a standard transform read for a 299 px model)
    cannot be right: take the resize of the upstream vdsp file, else scale the stated one with the input."""
    pre, size = entry.get("preprocess", {}), int(entry["input_size"])
    if pre.get("resize") is None or pre["resize"] >= size:
        return
    path = folder.vdsp_of(row.library, row.name) or folder.vdsp_of(row.library, entry["name"])
    stated = stated_resize(read_document(path)) if path is not None else None
    pre["resize"] = stated if stated and stated >= size else size * 256 // 224


def stated_resize(document: Any) -> int | None:
    """The shorter side a vdsp file resizes to (either dialect)."""
    fields = flatten(document)
    sides = [fields.get(name) for name in ("OpConfig.ResizeWidth", "OpConfig.ResizeHeight",
                                           "config[short_edge_threshold].Value")]
    numbers = [side for side in sides if isinstance(side, int)]
    return min(numbers) if numbers else None


def deviations(entry: dict[str, Any], config: LibraryConfig, row: Row, family: str) -> dict[str, str]:
    """A reason for every field `zoo check` would find differing from the library: VastModelZOO's value wins."""
    from zoo.manifest.schema import Model
    from zoo.sources.compare import differences

    model = Model.model_validate({**entry, "family": family})
    where = {"preprocess.resize": "vdsp file (the library's standard transform does not fit its input size)"}
    return {d.field: (f"VastModelZOO's {where.get(d.field, f'table (README line {row.line})')} states {d.manifest}; "
                      f"{config.read_from} states {d.library}") for d in differences(model, config)}


def _present(block: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in block.items() if value is not None}


def _resolve(folder: Folder, cache: Path, offline: bool, skipped: dict[str, str]) -> list[Resolved]:
    """Each convertible row with its library config; the others into `skipped` with why."""
    resolved = []
    for library in CONVERTIBLE:
        rows = [row for row in folder.rows if row.library == library]
        if rows:
            resolved += _resolve_library(library, rows, folder, cache, offline, skipped)
    for row in folder.rows:
        if row.library not in CONVERTIBLE:
            skipped[f"{row.library}/{row.name}"] = _WHY_SKIPPED.format(library=row.library)
    return resolved


def _resolve_library(library: str, rows: list[Row], folder: Folder, cache: Path, offline: bool,
                     skipped: dict[str, str]) -> list[Resolved]:
    versions = {row.name: linked_version(row, folder) or PINNED.get(library) for row in rows}
    read_at = max(versions.values(), key=list(versions.values()).count) if library in READ_AT_LINKED else None
    try:
        known = _known_archs(library, cache, offline, read_at)
    except LibraryConfigError:  # a release the package index does not have (PaddleClas 2.3): the installed one
        read_at = None
        versions = dict.fromkeys(versions)
        known = _known_archs(library, cache, offline, read_at)
    archs = {row.name: _arch(library, row.name, known) for row in rows}
    wanted = tuple(dict.fromkeys(a for a, _ in archs.values() if a))
    configs = _read(library, wanted, cache, offline, read_at, _first_weights(library, wanted)) if wanted else {}
    found = []
    for row in rows:
        arch, ssld = archs[row.name]
        if arch is None or arch not in configs:
            skipped[f"{library}/{row.name}"] = (f"{folder.root / 'README.md'}:{row.line}: {library} has no "
                                                f"architecture matching {row.name!r}")
        elif configs[arch].weights_url is None:
            skipped[f"{library}/{row.name}"] = f"{configs[arch].read_from} publishes no weights for {arch}"
        elif ssld:
            found.append(Resolved(row, ssld_weights(configs[arch]), versions[row.name], f"{arch}_ssld"))
        else:
            name = re.sub(r"[^A-Za-z0-9_.\-]", "_", row.name) if library == "mmcls" else arch
            found.append(Resolved(row, configs[arch], versions[row.name], name))
    return found


def _arch(library: str, name: str, known: list[str]) -> tuple[str | None, bool]:
    """The library's architecture of a row, and whether the row names its SSLD-distilled weights (ppcls)."""
    name = ALIASES.get((library, name), name)
    arch = ARCH_RESOLVERS[library](name, known)
    if arch is None and library == "ppcls" and name_key(name).endswith("ssld"):
        return _by_key(re.sub(r"[_-]?ssld$", "", name, flags=re.IGNORECASE), known), True
    return arch, False


def ssld_weights(config: LibraryConfig) -> LibraryConfig:
    """The config with PaddleClas's SSLD-distilled weights: its loader renames `_pretrained` to `_ssld_pretrained`."""
    url = (config.weights_url or "").replace("_pretrained", "_ssld_pretrained")
    return replace(config, weights_url=url)


def linked_version(row: Row, folder: Folder) -> str | None:
    """The version a row's link names (`.../blob/v0.6.5/...`), else the README's code-source tag for it."""
    found = _VERSION_IN_LINK.search(row.link)
    if found:
        return found.group(1)
    repository = "/".join(row.link.split("/")[:5])
    tag = folder.tags.get(repository, "")
    return tag.lstrip("v") if re.fullmatch(r"v?\d+(\.\d+)+", tag) else None


def _known_archs(library: str, cache: Path, offline: bool, version: str | None) -> list[str]:
    """Every architecture name the library knows (for the libraries whose names need matching)."""
    if library == "mmcls":
        import importlib.util

        from zoo.sources.mmcls import model_index

        spec = importlib.util.find_spec("mmpretrain")
        if spec is None or spec.origin is None:
            raise LibraryConfigError("mmpretrain is not installed: install zoo[mmcls] to migrate mmcls rows")
        return list(model_index(Path(spec.origin).parent / ".mim"))
    if library == "ppcls":
        return list(_read(library, ("*",), cache, offline, version))
    if library == "torchvision":
        from torchvision import models

        return list(models.list_models(module=models))
    return []


def _read(library: str, names: tuple[str, ...], cache: Path, offline: bool, version: str | None,
          weights: dict[str, str] | None = None) -> dict[str, LibraryConfig]:
    query = ConfigQuery(names, version, cache, offline, weights=weights or {},
                        eval_config=STANDARD_CONFIG if library == "ppcls" else None)
    return registry.get(library).read_configs(query)


def _first_weights(library: str, archs: tuple[str, ...]) -> dict[str, str]:
    """torchvision's first ImageNet weights of each architecture: the ones VastModelZOO's rows (torchvision
    0.9-0.13, before the V2 recipes) evaluate; the library's DEFAULT is often a later V2 checkpoint."""
    if library != "torchvision":
        return {}
    from torchvision import models

    found = {}
    for arch in archs:
        first = next((w for w in models.get_model_weights(arch) if w.name == "IMAGENET1K_V1"), None)
        if first is not None:
            found[arch] = first.url
    return found


def _same_name(name: str, known: list[str]) -> str | None:
    return name if name in known or not known else None


def _by_key(name: str, known: list[str]) -> str | None:
    """PaddleClas names written in lower case or with dots: `mobilenet_v3_small_x0.35` -> `MobileNetV3_small_x0_35`."""
    return next((arch for arch in known if name_key(arch) == name_key(name)), None)


def _mmpretrain_name(name: str, known: list[str]) -> str | None:
    """The mmpretrain ImageNet-1k model of an mmcls row (`resnet18` -> `resnet18_8xb32_in1k`)."""
    if name in known:
        return name
    matches = [arch for arch in known if arch.endswith("_in1k") and name_key(arch.split("_", 1)[0]) == name_key(name)]
    return min(matches, key=lambda arch: ("8xb32" not in arch, "3rdparty" in arch, len(arch)), default=None)


#: How a row's model name becomes the library's architecture name, per library.
ARCH_RESOLVERS: dict[str, Callable[[str, list[str]], str | None]] = {
    "timm": _same_name, "torchvision": _by_key, "mmcls": _mmpretrain_name, "ppcls": _by_key,
}
#: Rows whose name is neither the library's nor matched by the rules above (library, row name) -> name.
ALIASES = {
    ("timm", "mobilenetv2"): "mobilenetv2_100",
    ("timm", "hrnet_w18_small_v1"): "hrnet_w18_small",
    ("mmcls", "cspdarknet53"): "cspdarknet50_3rdparty_8xb32_in1k",
    ("mmcls", "shufflenet_v1_x1.0"): "shufflenet-v1-1x_16xb64_in1k",
    ("mmcls", "shufflenet_v2_x1.0"): "shufflenet-v2-1x_16xb64_in1k",
}
