"""Who is right, field by field, where a VastModelZOO deployment file and zoo's rendering differ.

- **zoo right**: the field follows from the source library's facts (rendering the model as the
  library states it writes zoo's value), or zoo writes the source's exact resize filter;
- **upstream right**: a deployment choice (calibration mode and count, extra ops, the colour
  order the runtime hands over, a resize filter where none is exact): the manifest adopts the
  upstream value, so zoo then writes it too;
- **format**: the same value written differently (a statistic and its float16 rounding).

A difference no rule decides is recorded as zoo right only when the library states the field;
otherwise the migration adopts nothing and records it as upstream right with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.deploy.audit import FieldDiff, Verdict, compare_document, dialect_of
from zoo.errors import UpstreamError
from zoo.manifest.schema import Model, UpstreamVerdict
from zoo.migrate.folder import BuildSettings, Folder, Row, read_document
from zoo.sources.compare import as_library_states
from zoo.sources.config import LibraryConfig
from zoo.sources.importer import schema_default

#: The vdsp fields naming the resize filter and the colour conversion, in each dialect.
RESIZE_TYPE = ("OpConfig.ResizeType", "config[resize_type].Value")
COLOR_CODE = ("OpConfig.ColorCvtCode", "config[color_cvt_code].Value")
#: The calibration image count each layout's profile uses when the manifest says none.
PROFILE_CALIB_COUNT = {"build_in": 50, "vacc_code": 1000}


def upstream_block(folder: Folder, row: Row, entry: dict[str, Any], config: LibraryConfig,
                   family: str, source: str) -> dict[str, Any] | None:
    """The entry's `upstream` block; adopted settings are written into `entry["deploy"]` on the way."""
    files: list[str] = []
    fields: list[dict[str, Any]] = []
    build = folder.builds.get(config.library)
    if build is not None:
        files.append(_relative(build.path, folder))
        fields += build_fields(build, folder, _model(entry, family))
    path = folder.vdsp_of(config.library, row.name) or folder.vdsp_of(config.library, entry["name"])
    if path is not None:
        files.append(_relative(path, folder))
        fields += vdsp_fields(path, folder, entry, config, family)
    return {"source": source, "files": files, "fields": fields} if files else None


def build_fields(build: BuildSettings, folder: Folder, model: Model) -> list[dict[str, Any]]:
    """The build YAML's settings that differ from zoo's defaults (all adopted: they are deployment choices)."""
    found = []
    for name, value in build.values().items():
        default = PROFILE_CALIB_COUNT[folder.layout] if name == "calib_count" else schema_default(f"deploy.{name}")
        default = getattr(default, "value", default)
        if value != default:
            found.append(_field(build.path, folder, f"deploy.{name}", UpstreamVerdict.upstream_right, value, default,
                                "a deployment choice of the upstream build; the manifest adopts it"))
    if build.bgr_calibration != (model.preprocess.color.value == "BGR"):
        found.append(_field(build.path, folder, "dataset.process_ops[CvtColor]", UpstreamVerdict.zoo_right,
                            build.bgr_calibration, not build.bgr_calibration,
                            f"the network takes {model.preprocess.color.value} (library config): zoo converts "
                            "calibration images only for a BGR network"))
    return found


def vdsp_fields(path: Path, folder: Folder, entry: dict[str, Any], config: LibraryConfig,
                family: str) -> list[dict[str, Any]]:
    """Every differing field of a vdsp file, after adopting the settings where upstream is right."""
    document = read_document(path)
    dialect = dialect_of(document)
    if dialect is None or "vdsp" not in dialect:
        raise UpstreamError(f"{path}: not a vdsp_params file (no `OpType`/`OpConfig` or `vdsp_op_type`); "
                            "remove it from vdsp_params/ or fix it")
    adopted: list[dict[str, Any]] = []
    for diff in _diffs(document, dialect, entry, config, family):
        setting = _adoptable(diff, _model(entry, family))
        if setting is not None:
            name, value = setting
            entry.setdefault("deploy", {})[name] = value
            adopted.append(_field(path, folder, diff.field, UpstreamVerdict.upstream_right, diff.file, diff.zoo,
                                  f"a deployment choice; the manifest adopts it as deploy.{name}"))
    remaining = [d for d in _diffs(document, dialect, entry, config, family) if d.verdict != Verdict.equal]
    return adopted + [_classified(d, path, folder, config) for d in remaining]


def _diffs(document: Any, dialect: str, entry: dict[str, Any], config: LibraryConfig, family: str) -> list[FieldDiff]:
    model = _model(entry, family)
    try:
        library: Model | None = as_library_states(model, config)
    except ValueError:  # the library's facts make no valid manifest
        library = None
    return compare_document(document, dialect, model, library)


def _adoptable(diff: FieldDiff, model: Model) -> tuple[str, str] | None:
    """The deploy setting that makes zoo write the file's value, where that is upstream's choice to make."""
    if diff.verdict in (Verdict.equal, Verdict.format_only):
        return None
    if diff.field in COLOR_CODE and str(diff.file).removeprefix("COLOR_") == "BGR2RGB":
        return "image_color", "BGR"
    if diff.field in RESIZE_TYPE and not _exact_filter(model, str(diff.zoo)) and diff.file in (
            "BILINEAR_CV", "BILINEAR_PILLOW"):
        return "resize_type", str(diff.file)
    return None


def _exact_filter(model: Model, written: str) -> bool:
    """Whether `written` is the resize filter the source itself uses (PIL or OpenCV bilinear)."""
    pre = model.preprocess
    exact = {"pil": "BILINEAR_PILLOW", "cv2": "BILINEAR_CV"}[pre.resize_backend.value]
    return pre.interpolation.value == "bilinear" and written == exact


def _classified(diff: FieldDiff, path: Path, folder: Folder, config: LibraryConfig) -> dict[str, Any]:
    if diff.verdict == Verdict.format_only:
        return _field(path, folder, diff.field, UpstreamVerdict.format, diff.file, diff.zoo, None)
    if diff.verdict == Verdict.library_agrees_with_file:
        return _field(path, folder, diff.field, UpstreamVerdict.upstream_right, diff.file, diff.zoo,
                      f"{config.read_from} gives the file's value; the manifest follows VastModelZOO's table")
    if diff.field in RESIZE_TYPE:
        why = "zoo writes the exact filter of the source's resize"
    elif diff.verdict == Verdict.library_agrees_with_zoo:
        why = f"{config.read_from} gives zoo's value"
    else:
        why = "zoo's value follows from the manifest; the library does not decide this field"
    return _field(path, folder, diff.field, UpstreamVerdict.zoo_right, diff.file, diff.zoo, why)


def _field(path: Path, folder: Folder, name: str, verdict: UpstreamVerdict, upstream: Any, zoo: Any,
           why: str | None) -> dict[str, Any]:
    found = {"file": _relative(path, folder), "field": name, "verdict": verdict.value,
             "upstream": _plain(upstream), "zoo": _plain(zoo), "why": why}
    return {key: value for key, value in found.items() if value is not None or key == "upstream"}


def _plain(value: Any) -> Any:
    """A value as YAML can hold it (the audit's `(absent)` marker stays a string)."""
    return list(value) if isinstance(value, tuple) else value


def _model(entry: dict[str, Any], family: str) -> Model:
    return Model.model_validate({**entry, "family": family})


def _relative(path: Path, folder: Folder) -> str:
    return path.relative_to(folder.root).as_posix()
