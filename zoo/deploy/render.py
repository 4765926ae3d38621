"""Deploy context -> Jinja templates -> checked files, one folder per model.

A *profile* is the set of files one deployment needs:

- ``build_in`` (default): vamc build YAML (current dialect), vdsp_params (build_in dialect),
  model_info JSON;
- ``sdk1``: vamc build YAML (legacy dialect), vdsp_params (sdk1.0 and vamp dialects),
  model_info JSON.

Layout of ``{out}/{source}-{name}/`` (file names as upstream names them; the legacy
dialects sit in sub-folders named like upstream's, so that both profiles fit side by side)::

    {source}_{name}.yaml                 vamc compile, current      (build_in)
    {source}-{name}-vdsp_params.json     vdsp_params, build_in      (build_in)
    model_info_{name}.json               model_info                 (both)
    sdk1.0/{source}_{name}.yaml          vamc build, legacy         (sdk1)
    sdk1.0/{source}-{name}-vdsp_params.json   vdsp_params, sdk1.0  (sdk1)
    vamp/{source}-{name}-vdsp_params.json     vdsp_params, vamp    (sdk1)

Every path written inside the files is relative to the model folder. Each rendered text is
parsed back and compared with what the format says for this context (keys, and every value
the context determines) before anything is written; then all files of the model are
published atomically (temp file + rename), unchanged files are left untouched.

Templates come from a user folder first (``templates_dir`` / ``$ZOO_TEMPLATES``, same
relative paths), then ``zoo/templates/``. They see every `DeployContext` field, plus
``approximations`` (lines for this profile), ``notes`` and ``file`` (the output's path).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import jinja2
import yaml

from zoo.atomic import write_if_changed
from zoo.deploy.context import VAMC, DeployContext, Dialect, build_context
from zoo.deploy.templating import (
    environment,
    load_template,
    render_template,
    resolve_templates_dir,
)
from zoo.errors import RenderError, ZooError
from zoo.manifest.schema import Model

try:  # the C parser is several times faster; fall back to pure Python
    from yaml import CSafeLoader as _YamlLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _YamlLoader  # type: ignore[assignment]



# --------------------------------------------------------------------------- format specs
class AnyOf:
    """A spec leaf that accepts any value of the given types (site settings a template may change)."""

    def __init__(self, *types: type) -> None:
        self.types = types

    def __repr__(self) -> str:
        return " or ".join(t.__name__ for t in self.types)


ANY_STR, ANY_INT, ANY_BOOL = AnyOf(str), AnyOf(int), AnyOf(bool)


def parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_YamlLoader)  # noqa: S506 - a safe loader


def vamc_spec(c: DeployContext) -> dict[str, Any]:
    """FORMATS.md section 5, filled in from the context."""
    backend: dict[str, Any] = {"type": "tvm_vacc", "dtype": c.dtype, "compile": {"cluster_mode": ANY_INT}}
    doc: dict[str, Any] = {
        "name": c.name,
        "frontend": {"shape": {c.input_name: list(c.input_shape)}, "type": "onnx",
                     "checkpoint": c.checkpoint, "dtype": "fp32"},
        "backend": backend,
        "workspace": {"path": c.workspace},
    }
    if c.quantize:
        backend["quantize"] = {"calibrate_mode": c.calibrate_mode, "quantize_per_channel": c.per_channel}
        doc["dataset"] = {
            "type": "tvm",
            "path": c.calib_dir,
            "sampler": {"suffix": ANY_STR, "get_data_num": c.calib_count},
            "process_ops": _calibration_ops(c, {"div255": c.div255}),
        }
    if c.extra_ops:
        doc["graph"] = {"extra_ops": {"type": c.extra_ops}}
    return doc


def vamc_legacy_spec(c: DeployContext) -> dict[str, Any]:
    """FORMATS.md section 6 (`div255: false` only for 0..255 statistics, as upstream writes it)."""
    engine: dict[str, Any] = {
        "type": "vacc",
        "common": {"do_quantization": c.quantize},
        "add_extra_ops_to_graph": {"type": c.extra_ops},
    }
    doc: dict[str, Any] = {
        "model": {"name": c.name, "inputs": {c.input_name: list(c.input_shape)}, "checkpoint": c.checkpoint},
        "engine": engine,
        "workspace": {"work_dir": c.workspace, "enable_ir": ANY_BOOL, "save_log": ANY_BOOL},
    }
    if c.quantize:
        engine["calibration"] = {"quant_mode": c.calibrate_mode, "per_channel": c.per_channel}
        doc["dataset"] = {
            "path": c.calib_dir,
            "sampler": {"suffix": ANY_STR, "get_data_num": c.calib_count},
            "transform_ops": _calibration_ops(c, {} if c.div255 else {"div255": False}),
        }
    return doc


def _calibration_ops(c: DeployContext, div255: dict[str, bool]) -> list[dict[str, Any]]:
    return [
        {"type": "DecodeImage"},
        {"type": "Resize", "size": [c.resize_height, c.resize_width]},
        {"type": "CenterCrop", "crop_size": [c.height, c.width]},
        {"type": "Normalize", **div255, "mean": list(c.mean), "std": list(c.std)},
        {"type": "ToTensor"},
    ]


def vdsp_build_in_spec(c: DeployContext) -> dict[str, Any]:
    """FORMATS.md section 2; the resize-only op carries no crop keys."""
    crop = {"CropX": c.crop_x, "CropY": c.crop_y} if c.crop else {}
    return {
        "OpType": c.op_type,
        "OpConfig": {
            "IimageFormat": c.image_format,
            "IimageWidth": c.resize_width, "IimageHeight": c.resize_height,
            "OimageWidth": c.width, "OimageHeight": c.height,
            **crop,
            "ResizeWidth": c.resize_width, "ResizeHeight": c.resize_height,
            "IimageWidthPitch": c.resize_width, "IimageHeightPitch": c.resize_height,
            "Mean": list(c.mean_fp16),
            "Std": list(c.std_fp16),
            "NormaType": c.norm_type,
            "ColorCvtCode": c.color_cvt_code,
            "ResizeType": c.resize_type,
        },
    }


def vdsp_sdk1_spec(c: DeployContext) -> dict[str, Any]:
    """FORMATS.md section 3: op 300 (shorter side + crop) or op 301 (resize to oimage size)."""
    if c.legacy_crop:
        sizes = {"short_edge_threshold": c.short_edge, "crop_size": c.crop_size}
    else:
        sizes = {"oimage_width": c.width, "oimage_height": c.height}
    return {
        "vdsp_op_type": c.legacy_op_type,
        "iimage_format": c.legacy_image_format,
        "iimage_width": c.resize_width, "iimage_height": c.resize_height,
        "iimage_width_pitch": c.resize_width, "iimage_height_pitch": c.resize_height,
        **sizes,
        "resize_type": c.legacy_resize_type,
        "color_cvt_code": c.legacy_color_cvt_code,
        "color_space": c.legacy_color_space,
        **_bits(c),
        "norma_type": c.legacy_norm_type,
    }


def vdsp_vamp_spec(c: DeployContext) -> dict[str, Any]:
    """FORMATS.md section 4. The dialect crops one square size, so it cannot describe other inputs."""
    if c.height != c.width:
        raise RenderError(
            f"{c.model_id}: the vamp vdsp_params dialect crops a single square size (crop_size) and cannot "
            f"describe the {c.width}x{c.height} input; use --profile build_in"
        )
    entries = [
        ("iimage_format", "UINT_32", c.image_format),
        ("iimage_width", "INT", c.resize_width),
        ("iimage_height", "INT", c.resize_height),
        ("iimage_width_pitch", "UINT_32", c.resize_width),
        ("iimage_height_pitch", "UINT_32", c.resize_height),
        ("short_edge_threshold", "INT", c.short_edge),
        ("crop_size", "UINT_32", c.crop_size),
        *(((name, "UINT_16", value) for name, value in _bits(c).items())),
        ("norma_type", "INT", c.norm_type),
        ("resize_type", "INT", c.resize_type),
        ("color_cvt_code", "UINT_16", c.vamp_color_cvt_code),
        ("color_space", "UINT_16", "COLOR_SPACE_BT709"),
    ]
    return {
        "vdsp_op_type": "RGB_RESIZE_CVTCOLOR_CROP_NORMALIZATION_TENSORIZATION_U8",
        "config": [{"Property": p, "DType": t, "ParamType": "ELEMENT", "Value": v} for p, t, v in entries],
    }


def _bits(c: DeployContext) -> dict[str, int]:
    names = ("meanr", "meang", "meanb", "stdr", "stdg", "stdb")
    return dict(zip(names, (*c.mean_bits, *c.std_bits), strict=True))


def model_info_spec(c: DeployContext) -> dict[str, Any]:
    """FORMATS.md section 7 (the hardware config location is a site setting)."""
    return {
        "model_name": c.name,
        "model_lib_path": c.model_lib_path,
        "model_graph_path": c.model_graph_path,
        "model_params_path": c.model_params_path,
        "hw_config_file": ANY_STR,
    }


def differences(expected: Any, found: Any, path: str = "") -> list[str]:
    """Where `found` (a parsed file) departs from `expected` (a spec): keys, lengths, values, types."""
    where = path or "the document"
    if isinstance(expected, AnyOf):
        ok = isinstance(found, expected.types) and not (bool not in expected.types and isinstance(found, bool))
        return [] if ok else [f"{where}: expected a {expected!r}, found {found!r}"]
    if isinstance(expected, dict):
        if not isinstance(found, dict):
            return [f"{where}: expected a mapping, found {found!r}"]
        problems = [f"{where}: missing key `{k}`" for k in expected if k not in found]
        problems += [f"{where}: unexpected key `{k}`" for k in found if k not in expected]
        for key in expected.keys() & found.keys():
            problems += differences(expected[key], found[key], f"{path}.{key}" if path else str(key))
        return problems
    if isinstance(expected, list):
        if not isinstance(found, list) or len(found) != len(expected):
            return [f"{where}: expected {expected!r}, found {found!r}"]
        pairs = enumerate(zip(expected, found, strict=True))
        return [p for i, (e, f) in pairs for p in differences(e, f, f"{path}[{i}]")]
    if type(found) is not type(expected) or found != expected:
        return [f"{where}: expected {expected!r}, found {found!r}"]
    return []


# --------------------------------------------------------------------------- profiles
@dataclass(frozen=True)
class Output:
    """One generated file: its dialect, template, path in the model folder and format spec."""

    dialect: Dialect
    template: str
    path: str  # formatted with `library`, `name`, `stem`
    parse: Callable[[str], Any]
    spec: Callable[[DeployContext], Any]


VAMC_CURRENT = Output(Dialect.vamc, "vamc/build.yaml.j2", "{library}_{name}.yaml", parse_yaml, vamc_spec)
VAMC_LEGACY = Output(Dialect.vamc_legacy, "vamc/build_legacy.yaml.j2", "sdk1.0/{library}_{name}.yaml",
                     parse_yaml, vamc_legacy_spec)
VDSP_BUILD_IN = Output(Dialect.vdsp_build_in, "vdsp/build_in.json.j2", "{stem}-vdsp_params.json", json.loads,
                       vdsp_build_in_spec)
VDSP_SDK1 = Output(Dialect.vdsp_sdk1, "vdsp/sdk1.0.json.j2", "sdk1.0/{stem}-vdsp_params.json", json.loads,
                   vdsp_sdk1_spec)
VDSP_VAMP = Output(Dialect.vdsp_vamp, "vdsp/vamp.json.j2", "vamp/{stem}-vdsp_params.json", json.loads,
                   vdsp_vamp_spec)
MODEL_INFO = Output(Dialect.model_info, "model_info.json.j2", "model_info_{name}.json", json.loads, model_info_spec)

PROFILES: dict[str, tuple[Output, ...]] = {
    "build_in": (VAMC_CURRENT, VDSP_BUILD_IN, MODEL_INFO),
    "sdk1": (VAMC_LEGACY, VDSP_SDK1, VDSP_VAMP, MODEL_INFO),
}
DEFAULT_PROFILE = "build_in"


# --------------------------------------------------------------------------- results
@dataclass
class RenderResult:
    """What rendering one model produced."""

    model_id: str
    profile: str
    folder: Path
    files: list[Path]
    approximations: list[str]
    notes: list[str]
    context: DeployContext

    def metrics(self) -> dict[str, Any]:
        """The render step's metrics as `zoo.pipeline.record` names them."""
        return {
            "approximations": list(self.approximations),
            "files": [f.relative_to(self.folder).as_posix() for f in self.files],
        }


@dataclass
class RenderBatch:
    """Results of `render_all`: one per model that rendered, and an error message per model that did not."""

    results: list[RenderResult] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- rendering
def render_model(
    model: Model,
    *,
    out_dir: Path,
    profile: str = DEFAULT_PROFILE,
    onnx_path: Path | None = None,
    input_name: str | None = None,
    dtype: str | None = None,
    calib_dir: str | None = None,
    templates_dir: Path | None = None,
) -> RenderResult:
    """Render, check and write the profile's files for `model` into `{out_dir}/{model.stem}/`.

    Raises `RenderError` (nothing written) if a template is broken or an output does not
    match its format.
    """
    outputs = _profile(profile)
    env = environment(resolve_templates_dir(templates_dir))
    folder = Path(out_dir) / model.stem
    context = build_context(model, input_name=input_name, onnx_path=onnx_path, model_dir=folder,
                            dtype=dtype, calib_dir=calib_dir)
    approximations = context.approximations_for(o.dialect for o in outputs)
    texts = {
        folder / output_path(output, context): _render_checked(env, output, context, approximations)
        for output in outputs
    }
    for parent in {path.parent for path in texts}:
        parent.mkdir(parents=True, exist_ok=True)
    for path, text in texts.items():
        write_if_changed(path, text.encode("utf-8"))
    return RenderResult(model.id, profile, folder, list(texts), approximations, list(context.notes), context)


def render_all(
    models: Iterable[Model],
    *,
    out_dir: Path,
    profile: str = DEFAULT_PROFILE,
    dtype: str | None = None,
    calib_dir: str | None = None,
    templates_dir: Path | None = None,
) -> RenderBatch:
    """Render every model; one model's error is recorded and the others go on."""
    _profile(profile)
    batch = RenderBatch()
    for model in models:
        try:
            batch.results.append(render_model(model, out_dir=out_dir, profile=profile, dtype=dtype,
                                              calib_dir=calib_dir, templates_dir=templates_dir))
        except ZooError as exc:
            batch.failures[model.id] = str(exc)
    return batch


def _profile(name: str) -> tuple[Output, ...]:
    try:
        return PROFILES[name]
    except KeyError:
        raise RenderError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}") from None


def output_path(output: Output, c: DeployContext) -> str:
    return output.path.format(library=c.library, name=c.name, stem=c.stem)


def _render_checked(env: jinja2.Environment, output: Output, context: DeployContext, approximations: list[str]) -> str:
    """Render one output, parse it back and compare it with its format; return the text."""
    spec = output.spec(context)
    template = load_template(env, output.template)
    variables = {f.name: getattr(context, f.name) for f in fields(context)}
    variables.update(approximations=approximations, notes=list(context.notes),
                     file=output_path(output, context))
    text = render_template(template, variables)
    source = template.filename or output.template
    try:
        parsed = output.parse(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise RenderError(f"{source}: the rendered {output.dialect.value} for {context.model_id} does not parse: "
                          f"{_one_line(exc)}") from None
    problems = differences(spec, parsed)
    if output.dialect in VAMC:
        problems += [f"approximation comment missing: {line}" for line in approximations if line not in text]
    if problems:
        listed = "\n  ".join(problems)
        raise RenderError(f"{source}: the rendered {output.dialect.value} for {context.model_id} does not match "
                          f"the format:\n  {listed}")
    return text


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
