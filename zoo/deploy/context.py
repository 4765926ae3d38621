"""The deploy context: every value the VastAI deployment files need, computed from one model.

Templates only lay these values out (DESIGN.md, decision 7), so everything that involves a
rule lives here: sizes, crop offsets and float16 statistics (taken from `zoo.manifest.derived`,
never recomputed), the enum names and legacy integer codes of the VDSP engine, the input
name, relative paths, and the list of approximations the targets force on the model.

Facts used here and where they come from (FORMATS.md unless stated):

- The VDSP engine receives RGB_PLANAR images. A model trained on RGB needs `NO_CHANGE`; a
  model trained on BGR needs `RGB2BGR`, and since the fused op converts colour *before* it
  normalises, its mean/std are written in the network's channel order (B, G, R).
- Normalisation: `DIV255_MINUSMEAN_DIVSTD` for statistics on the 0..1 scale, `DIV255` when
  those are mean 0 / std 1 (nothing left to subtract or divide), `MINUSMEAN_DIVSTD` for
  statistics on the 0..255 scale.
- Resize: always `BILINEAR_CV`, the resize type of every published classifier file. The VDSP
  engine has no bicubic, so other interpolations are approximations, and so is PIL's bilinear
  (`preprocess.resize_backend: pil`), which smooths when downscaling where OpenCV's does not.
- Legacy sdk1.0 integer codes. Shown in FORMATS.md: op 300 (resize + crop), 301 (resize, no
  crop), image format 5000 (RGB_PLANAR), resize type 1, colour code 2 (`NO_CHANGE`),
  colour space 0, norm type 4 (`DIV255_MINUSMEAN_DIVSTD`). Chosen here, because no worked
  example shows them: norm type 3 for `MINUSMEAN_DIVSTD` (what the published sdk1.0 files
  of 0..255-statistics models carry), 6 for `DIV255` and colour code 4 for `RGB2BGR` (their
  positions in the VDSP runtime's enums, whose positions 2 and 4 match the codes above).
- The compiled folder is `{name}-{dtype}-{calibrate_mode}-{C}_{H}_{W}-vacc`; fp16 builds
  have no calibration and use `none` for the mode, as the published fp16 folders do.
- Paths inside the files are relative to the model's output folder (which holds the ONNX
  and receives `deploy_weights/`): run `vamc` and `vamp` from there.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from zoo import onnxfile
from zoo.errors import RenderError
from zoo.manifest.derived import Derived, derive
from zoo.manifest.schema import (
    Color,
    CropMode,
    Dtype,
    Interpolation,
    Model,
    ResizeBackend,
    ValueRange,
)
from zoo.sources import registry

T = TypeVar("T")

#: A float16 statistic whose relative rounding error exceeds this is reported. Half precision
#: keeps 11 significant bits (relative error <= 2**-11 ~ 4.9e-4 for normal numbers), so this
#: flags values float16 represents badly: tiny (subnormal) ones.
FP16_TOLERANCE = 1e-3

#: Where the compiled model goes, relative to the model folder (vamc workspace).
WORKSPACE = "deploy_weights"
#: The runtime's hardware description, as the published model_info files name it.
HW_CONFIG_FILE = "classification/common/hw_config/hw_conf.bin"
#: Calibration folder written when none is given (the name upstream uses); a placeholder.
CALIB_PLACEHOLDER = "ILSVRC2012_img_calib"

OP_RESIZE_CROP = "FUSION_OP_RGB_RESIZE_CVTCOLOR_CROP_NORM_TENSOR"
OP_RESIZE = "FUSION_OP_RGB_RESIZE_CVTCOLOR_NORM_TENSOR"
IMAGE_FORMAT = "RGB_PLANAR"
RESIZE_TYPE = "BILINEAR_CV"

LEGACY_OP_RESIZE_CROP = 300
LEGACY_OP_RESIZE = 301
LEGACY_IMAGE_FORMAT = 5000
LEGACY_RESIZE_BILINEAR = 1
LEGACY_COLOR_SPACE = 0
LEGACY_COLOR_CODES = {"NO_CHANGE": 2, "RGB2BGR": 4}
LEGACY_NORM_CODES = {"MINUSMEAN_DIVSTD": 3, "DIV255_MINUSMEAN_DIVSTD": 4, "DIV255": 6}


class Dialect(StrEnum):
    """One kind of generated file; approximations say which of them they affect."""

    vamc = "vamc build YAML"
    vamc_legacy = "legacy vamc build YAML"
    vdsp_build_in = "build_in vdsp_params"
    vdsp_sdk1 = "sdk1.0 vdsp_params"
    vdsp_vamp = "vamp vdsp_params"
    model_info = "model_info"


VAMC = frozenset({Dialect.vamc, Dialect.vamc_legacy})
VDSP = frozenset({Dialect.vdsp_build_in, Dialect.vdsp_sdk1, Dialect.vdsp_vamp})
#: Files that resize to a fixed width x height (no aspect ratio kept).
FIXED_RESIZE = VAMC | {Dialect.vdsp_build_in}
#: Files that resize the shorter side (`short_edge_threshold`).
SHORT_EDGE = frozenset({Dialect.vdsp_sdk1, Dialect.vdsp_vamp})


@dataclass(frozen=True)
class Approximation:
    """Something a deployment file cannot say exactly as the source library does it."""

    kind: str
    detail: str
    dialects: frozenset[Dialect]

    def describe(self, rendered: Iterable[Dialect]) -> str | None:
        """One line for people, naming the rendered files it affects (None if it affects none)."""
        hit = [d for d in Dialect if d in self.dialects and d in set(rendered)]
        if not hit:
            return None
        return f"{self.kind}: {self.detail} [{', '.join(d.value for d in hit)}]"


@dataclass(frozen=True)
class DeployContext:
    """Everything the deploy templates print; a template needing more is a bug here, not there."""

    # identity
    model_id: str
    name: str
    stem: str
    library: str
    family: str
    # network input (vamc `frontend.shape` / `model.inputs`)
    input_name: str
    input_name_from: str  # "given", "onnx" or "convention"
    input_shape: tuple[int, int, int, int]
    channels: int
    height: int
    width: int
    # resize and crop (zoo.manifest.derived.derive)
    resize_height: int
    resize_width: int
    crop_x: int
    crop_y: int
    crop: bool  # a crop follows the resize (the resize is larger than the input)
    crop_mode: str
    interpolation: str  # what the source uses
    resize_type: str  # what VDSP uses
    # normalisation; `mean`/`std` as the source states them (RGB order), for vamc
    value_range: str
    div255: bool
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    # ... and what the VDSP engine applies: float16, in the network's channel order
    mean_fp16: tuple[float, float, float]
    std_fp16: tuple[float, float, float]
    mean_bits: tuple[int, int, int]
    std_bits: tuple[int, int, int]
    norm_type: str
    color: str
    color_cvt_code: str
    image_format: str
    op_type: str
    # legacy sdk1.0 / vamp dialects
    legacy_op_type: int
    legacy_image_format: int
    legacy_resize_type: int
    legacy_color_cvt_code: int
    legacy_color_space: int
    legacy_norm_type: int
    legacy_crop: bool  # op 300 (shorter side + crop); else op 301 (resize to the input size)
    short_edge: int  # short_edge_threshold (op 300)
    crop_size: int  # crop_size (op 300)
    vamp_color_cvt_code: str
    # compilation
    dtype: str
    quantize: bool
    calibrate_mode: str
    per_channel: bool
    calib_dir: str
    calib_count: int
    extra_ops: str | None
    checkpoint: str
    workspace: str
    compiled_folder: str
    model_lib_path: str
    model_graph_path: str
    model_params_path: str
    hw_config_file: str
    approximations: tuple[Approximation, ...]
    notes: tuple[str, ...]

    def approximations_for(self, dialects: Iterable[Dialect]) -> list[str]:
        """The approximations that affect any of `dialects`, as lines for people."""
        rendered = list(dialects)
        lines = (a.describe(rendered) for a in self.approximations)
        return [line for line in lines if line]


def build_context(
    model: Model,
    *,
    input_name: str | None = None,
    onnx_path: Path | None = None,
    model_dir: Path | None = None,
    dtype: str | None = None,
    calib_dir: str | None = None,
) -> DeployContext:
    """Compute the deploy context of `model`.

    `input_name` wins; else the first graph input of `onnx_path` (read with onnx, lazily);
    else the library's export convention. `onnx_path` becomes the checkpoint, relative to
    `model_dir` (the folder the files are written to) when absolute; without it the
    checkpoint is `{stem}.onnx` in that folder. `dtype` overrides the manifest's.
    """
    _, height, width = model.input_size
    if model.input_size[0] != 3:
        raise RenderError(
            f"{model.id}: input has {model.input_size[0]} channel(s); the VDSP formats describe "
            "3-channel RGB_PLANAR images only"
        )
    derived = derive(model)
    if derived.resize_height < height or derived.resize_width < width:
        raise RenderError(
            f"{model.id}: preprocess resizes to {derived.resize_width}x{derived.resize_height}, smaller than "
            f"the {width}x{height} input; fix `preprocess.resize` in the manifest"
        )
    notes: list[str] = []
    name, name_from, onnx_shape = _input_name(model, input_name, onnx_path)
    if onnx_shape is not None and onnx_shape != model.input_size:
        raise RenderError(
            f"{model.id}: the ONNX file {onnx_path} takes input {list(onnx_shape)} but the manifest says "
            f"{list(model.input_size)}; re-export or fix `input_size`"
        )
    if name_from == "convention" and not registry.get(model.source.library).builds_architecture:
        notes.append(f"input name `{name}` is assumed (library `{model.source.library}` keeps the name its "
                     "file has); `zoo sync` fills in the file's real name")

    try:
        chosen = Dtype(dtype) if dtype is not None else model.deploy.dtype
    except ValueError:
        raise RenderError(f"dtype {dtype!r} is not one of: {', '.join(d.value for d in Dtype)}") from None
    quantize = chosen == Dtype.int8
    if quantize and calib_dir is None:
        notes.append(
            f"int8 calibration folder `{CALIB_PLACEHOLDER}` is a placeholder; "
            "pass --calib-dir (e.g. the output of `zoo calib`)"
        )
    calibrate_mode = model.deploy.calibrate_mode.value if quantize else "none"
    compiled = f"{model.name}-{chosen.value}-{calibrate_mode}-{model.input_size[0]}_{height}_{width}-vacc"
    pre = model.preprocess
    bgr = pre.color == Color.BGR
    norm = _norm_type(pre.value_range, pre.mean, pre.std)
    crop = (derived.resize_height, derived.resize_width) != (height, width)
    legacy_op = _legacy_op(pre.crop_mode, crop, height == width)
    color_cvt = "RGB2BGR" if bgr else "NO_CHANGE"

    return DeployContext(
        model_id=model.id,
        name=model.name,
        stem=model.stem,
        library=model.source.library,
        family=model.family,
        input_name=name,
        input_name_from=name_from,
        input_shape=(1, *model.input_size),
        channels=model.input_size[0],
        height=height,
        width=width,
        resize_height=derived.resize_height,
        resize_width=derived.resize_width,
        crop_x=derived.crop_x,
        crop_y=derived.crop_y,
        crop=crop,
        crop_mode=pre.crop_mode.value,
        interpolation=pre.interpolation.value,
        resize_type=RESIZE_TYPE,
        value_range=pre.value_range.value,
        div255=pre.value_range == ValueRange.unit,
        mean=derived.mean,
        std=derived.std,
        mean_fp16=_network_order(derived.mean_fp16, bgr),
        std_fp16=_network_order(derived.std_fp16, bgr),
        mean_bits=_network_order(derived.mean_bits, bgr),
        std_bits=_network_order(derived.std_bits, bgr),
        norm_type=norm,
        color=pre.color.value,
        color_cvt_code=color_cvt,
        image_format=IMAGE_FORMAT,
        op_type=OP_RESIZE_CROP if crop else OP_RESIZE,
        legacy_op_type=legacy_op,
        legacy_image_format=LEGACY_IMAGE_FORMAT,
        legacy_resize_type=LEGACY_RESIZE_BILINEAR,
        legacy_color_cvt_code=LEGACY_COLOR_CODES[color_cvt],
        legacy_color_space=LEGACY_COLOR_SPACE,
        legacy_norm_type=LEGACY_NORM_CODES[norm],
        legacy_crop=legacy_op == LEGACY_OP_RESIZE_CROP,
        short_edge=min(derived.resize_height, derived.resize_width),
        crop_size=min(height, width),
        vamp_color_cvt_code=f"COLOR_{color_cvt}",
        dtype=chosen.value,
        quantize=quantize,
        calibrate_mode=calibrate_mode,
        per_channel=model.deploy.per_channel,
        calib_dir=calib_dir if calib_dir is not None else CALIB_PLACEHOLDER,
        calib_count=model.deploy.calib_count,
        extra_ops=model.deploy.extra_ops.value if model.deploy.extra_ops else None,
        checkpoint=_checkpoint(model, onnx_path, model_dir),
        workspace=f"./{WORKSPACE}/",
        compiled_folder=compiled,
        model_lib_path=f"{WORKSPACE}/{compiled}/{model.name}.so",
        model_graph_path=f"{WORKSPACE}/{compiled}/{model.name}.json",
        model_params_path=f"{WORKSPACE}/{compiled}/{model.name}.params",
        hw_config_file=HW_CONFIG_FILE,
        approximations=tuple(_approximations(model, derived, legacy_op, quantize)),
        notes=tuple(notes),
    )


def _network_order(values: tuple[T, T, T], bgr: bool) -> tuple[T, T, T]:
    """Per-channel values in the order the network's input channels have (VDSP normalises
    after converting the colour, so a BGR model's statistics go B, G, R)."""
    return (values[2], values[1], values[0]) if bgr else values


def _norm_type(value_range: ValueRange, mean: tuple[float, ...], std: tuple[float, ...]) -> str:
    if value_range == ValueRange.byte:
        return "MINUSMEAN_DIVSTD"
    if all(m == 0 for m in mean) and all(s == 1 for s in std):
        return "DIV255"
    return "DIV255_MINUSMEAN_DIVSTD"


def _legacy_op(crop_mode: CropMode, crop: bool, square: bool) -> int:
    """Op 301 (resize straight to the input size) where that is what the source does, or where
    the input is not square (the legacy crop takes one size); op 300 (shorter side + crop) else."""
    if not square or (crop_mode == CropMode.squash and not crop):
        return LEGACY_OP_RESIZE
    return LEGACY_OP_RESIZE_CROP


def _input_name(
    model: Model, given: str | None, onnx_path: Path | None
) -> tuple[str, str, tuple[int, int, int] | None]:
    """(name, where it came from, the ONNX input's C,H,W when read and static)."""
    if given is not None:
        return given, "given", None
    if onnx_path is not None:
        name, shape = read_onnx_input(onnx_path)
        return name, "onnx", shape
    return registry.get(model.source.library).input_name, "convention", None


def read_onnx_input(path: Path) -> tuple[str, tuple[int, int, int] | None]:
    """Name and static C,H,W of the first real graph input of an ONNX file (onnx imported here only)."""
    inputs = onnxfile.real_inputs(onnxfile.load(path, weights=False, error=RenderError).graph)
    if not inputs:
        raise RenderError(f"the ONNX file {path} has no graph input")
    values = onnxfile.dims(inputs[0])
    if len(values) == 4 and values[1] and values[2] and values[3]:
        return inputs[0].name, (values[1], values[2], values[3])
    return inputs[0].name, None


def _checkpoint(model: Model, onnx_path: Path | None, model_dir: Path | None) -> str:
    if onnx_path is None:
        return f"{model.stem}.onnx"
    if onnx_path.is_absolute() and model_dir is not None:
        return Path(os.path.relpath(onnx_path, model_dir.absolute())).as_posix()
    return onnx_path.as_posix()


def _approximations(model: Model, derived: Derived, legacy_op: int, quantize: bool) -> list[Approximation]:
    """Every way the deployment files differ from the source library's preprocessing."""
    pre = model.preprocess
    found: list[Approximation] = []
    if pre.interpolation != Interpolation.bilinear:
        found.append(Approximation(
            "interpolation",
            f"the source resizes with {pre.interpolation.value}; VDSP and the vamc calibration pipeline "
            f"resize bilinearly ({RESIZE_TYPE}), they have no {pre.interpolation.value}",
            VAMC | VDSP,
        ))
    if pre.resize_backend == ResizeBackend.pil:
        found.append(Approximation(
            "resize filter",
            f"the source resizes with PIL, whose bilinear filter smooths when downscaling; VDSP's "
            f"{RESIZE_TYPE} is OpenCV's, which does not",
            VDSP,
        ))
    found += _resize_approximations(model, derived, legacy_op)
    found += _fp16_approximations(derived)
    if pre.color == Color.BGR:
        found.append(Approximation(
            "colour",
            "the model expects BGR; the vamc calibration pipeline has no documented colour conversion, so "
            "int8 calibration images are read in the decoder's channel order, not converted to BGR",
            VAMC,
        ))
    if not quantize:  # without calibration the build YAML resizes nothing
        found = [replace(a, dialects=a.dialects - VAMC) for a in found if a.dialects - VAMC]
    return found


def _resize_approximations(model: Model, derived: Derived, legacy_op: int) -> list[Approximation]:
    """Compare how the source resizes with how each kind of file resizes."""
    _, height, width = model.input_size
    rh, rw = derived.resize_height, derived.resize_width
    square = height == width
    mode = model.preprocess.crop_mode
    if mode == CropMode.squash:
        source, source_kind = f"resizes every image to {rw}x{rh} without keeping the aspect ratio", "fixed"
    elif mode == CropMode.border:
        source, source_kind = (f"keeps the aspect ratio and pads where the image is smaller than "
                               f"{width}x{height} (crop_mode border)"), "border"
    elif square:
        source, source_kind = f"resizes the shorter side to {rh} keeping the aspect ratio", "short"
    else:
        source, source_kind = f"resizes keeping the aspect ratio until the image covers {rw}x{rh}", "cover"

    found = []
    if source_kind != "fixed":
        found.append(Approximation(
            "resize", f"the source {source}; these files resize every image to {rw}x{rh}, "
            "not keeping the aspect ratio", FIXED_RESIZE,
        ))
    if square:
        short_edge = set(SHORT_EDGE)
        if legacy_op == LEGACY_OP_RESIZE:  # squash without crop: sdk1.0 op 301 is exact
            short_edge.discard(Dialect.vdsp_sdk1)
        if source_kind != "short" and short_edge:
            found.append(Approximation(
                "resize", f"the source {source}; these files resize the shorter side to {rh} "
                "(short_edge_threshold) keeping the aspect ratio", frozenset(short_edge),
            ))
    else:
        found.append(Approximation(
            "non-square input", f"the input is {width}x{height} but the sdk1.0 format crops one square size, "
            f"so op {LEGACY_OP_RESIZE} resizes straight to {width}x{height} without the center crop",
            frozenset({Dialect.vdsp_sdk1}),
        ))
        found.append(Approximation(
            "non-square input", f"the input is {width}x{height}; Resize and CenterCrop sizes are written as "
            "[height, width] and the published vamc examples are all square, so check that order for your "
            "vamc version", VAMC,
        ))
    return found


def _fp16_approximations(derived: Derived) -> list[Approximation]:
    pairs = [("mean", v, r) for v, r in zip(derived.mean, derived.mean_fp16, strict=True)]
    pairs += [("std", v, r) for v, r in zip(derived.std, derived.std_fp16, strict=True)]
    coarse = [
        f"{label} {value!r} -> {rounded!r} (relative error {abs(rounded - value) / abs(value):.1e})"
        for label, value, rounded in pairs
        if value != 0 and abs(rounded - value) / abs(value) > FP16_TOLERANCE
    ]
    if not coarse:
        return []
    return [Approximation(
        "fp16 statistics",
        f"VDSP applies mean/std in float16, which rounds by more than {FP16_TOLERANCE:g}: " + "; ".join(coarse),
        VDSP,
    )]

