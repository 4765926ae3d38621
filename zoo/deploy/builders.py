"""Computing the deploy context of a model: one builder per group of `zoo.deploy.context`.

Sizes, crop offsets and float16 statistics come from `zoo.manifest.derived` (never
recomputed here); the engine's names from `zoo.deploy.vdsp`; the legacy codes from the
legacy dialects' modules. The compiled folder is `{name}-{dtype}-{calibrate_mode}-{C}_{H}_{W}-vacc`
(fp16 builds have no calibration and use `none` for the mode, as the published fp16 folders
do), and every path is relative to the model's output folder, which holds the ONNX file and
receives the compiled model: run `vamc` and `vamp` from there (docs/formats.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

from zoo import onnxfile
from zoo.deploy import model_info, vdsp, vdsp_build_in, vdsp_sdk1, vdsp_vamp
from zoo.deploy.approximations import approximations
from zoo.deploy.context import (
    Colour,
    Crop,
    DeployContext,
    Graph,
    Identity,
    Input,
    Legacy,
    Normalise,
    Paths,
    Quantize,
    Resize,
)
from zoo.errors import RenderError
from zoo.manifest.derived import Derived, derive
from zoo.manifest.schema import Color, Dtype, Model, ValueRange
from zoo.sources import registry

T = TypeVar("T")

#: Where the compiled model goes, relative to the model folder (vamc workspace).
WORKSPACE = "deploy_weights"
#: Calibration folder written when none is given (the name upstream uses); a placeholder.
CALIB_PLACEHOLDER = "ILSVRC2012_img_calib"


def build_context(
    model: Model,
    *,
    input_name: str | None = None,
    onnx_path: Path | None = None,
    model_dir: Path | None = None,
    dtype: str | None = None,
    calib_dir: str | None = None,
) -> DeployContext:
    """Compute the deploy context of `model`; a model the formats cannot describe is a `RenderError`.

    `input_name` wins; else the first graph input of `onnx_path` (read with onnx, lazily);
    else the library's export convention. `onnx_path` becomes the checkpoint, relative to
    `model_dir` (the folder the files are written to) when absolute; without it the
    checkpoint is `{stem}.onnx` in that folder. `dtype` overrides the manifest's.
    """
    derived = _checked_derive(model)
    network_input = _input(model, input_name, onnx_path)
    quantize = _quantize(model, dtype, calib_dir)
    crop = _crop(model, derived)
    normalise = _normalise(model, derived)
    colour = _colour(model)
    legacy = _legacy(model, crop, colour, normalise)
    return DeployContext(
        identity=Identity(model.id, model.name, model.stem, model.source.library, model.family),
        input=network_input,
        resize=_resize(model, derived),
        crop=crop,
        normalise=normalise,
        colour=colour,
        quantize=quantize,
        graph=Graph(
            extra_ops=model.deploy.extra_ops.value if model.deploy.extra_ops else None,
            op_type=vdsp_build_in.op_type(crop.enabled),
        ),
        legacy=legacy,
        paths=_paths(model, quantize, onnx_path, model_dir),
        approximations=approximations(model, derived, legacy.op_type, quantize.enabled),
        notes=(*_assumed_input_note(model, network_input), *_calibration_note(quantize, calib_dir)),
    )


def _checked_derive(model: Model) -> Derived:
    """The derived numbers of a model the VDSP formats can describe."""
    channels, height, width = model.input_size
    if channels != 3:
        raise RenderError(
            f"{model.id}: input has {channels} channel(s); the VDSP formats describe "
            "3-channel RGB_PLANAR images only"
        )
    derived = derive(model)
    if derived.resize_height < height or derived.resize_width < width:
        raise RenderError(
            f"{model.id}: preprocess resizes to {derived.resize_width}x{derived.resize_height}, smaller than "
            f"the {width}x{height} input; fix `preprocess.resize` in the manifest"
        )
    return derived


def _input(model: Model, given: str | None, onnx_path: Path | None) -> Input:
    name, name_from, onnx_shape = _input_name(model, given, onnx_path)
    if onnx_shape is not None and onnx_shape != model.input_size:
        raise RenderError(
            f"{model.id}: the ONNX file {onnx_path} takes input {list(onnx_shape)} but the manifest says "
            f"{list(model.input_size)}; re-export or fix `input_size`"
        )
    channels, height, width = model.input_size
    return Input(name, name_from, (1, channels, height, width), channels, height, width)


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


def _assumed_input_note(model: Model, network_input: Input) -> list[str]:
    """A model whose file *is* the graph keeps the file's input name, a guess until the file is read."""
    if network_input.name_from == "convention" and not registry.get(model.source.library).builds_architecture:
        return [f"input name `{network_input.name}` is assumed (library `{model.source.library}` keeps the name "
                "its file has); `zoo sync` fills in the file's real name"]
    return []


def _resize(model: Model, derived: Derived) -> Resize:
    return Resize(
        height=derived.resize_height,
        width=derived.resize_width,
        interpolation=model.preprocess.interpolation.value,
        type=vdsp.RESIZE_TYPE,
        short_edge=min(derived.resize_height, derived.resize_width),
    )


def _crop(model: Model, derived: Derived) -> Crop:
    _, height, width = model.input_size
    return Crop(
        enabled=(derived.resize_height, derived.resize_width) != (height, width),
        x=derived.crop_x,
        y=derived.crop_y,
        mode=model.preprocess.crop_mode.value,
        size=min(height, width),
    )


def _normalise(model: Model, derived: Derived) -> Normalise:
    pre = model.preprocess
    bgr = pre.color == Color.BGR
    return Normalise(
        value_range=pre.value_range.value,
        div255=pre.value_range == ValueRange.unit,
        mean=derived.mean,
        std=derived.std,
        mean_fp16=_network_order(derived.mean_fp16, bgr),
        std_fp16=_network_order(derived.std_fp16, bgr),
        mean_bits=_network_order(derived.mean_bits, bgr),
        std_bits=_network_order(derived.std_bits, bgr),
        norm_type=vdsp.norm_type(pre.value_range == ValueRange.byte, pre.mean, pre.std),
    )


def _network_order(values: tuple[T, T, T], bgr: bool) -> tuple[T, T, T]:
    """Per-channel values in the order the network's input channels have (VDSP normalises
    after converting the colour, so a BGR model's statistics go B, G, R)."""
    return (values[2], values[1], values[0]) if bgr else values


def _colour(model: Model) -> Colour:
    color = model.preprocess.color
    return Colour(color.value, vdsp.color_cvt_code(color == Color.BGR), vdsp.IMAGE_FORMAT)


def _quantize(model: Model, dtype: str | None, calib_dir: str | None) -> Quantize:
    try:
        chosen = Dtype(dtype) if dtype is not None else model.deploy.dtype
    except ValueError:
        raise RenderError(f"dtype {dtype!r} is not one of: {', '.join(d.value for d in Dtype)}") from None
    enabled = chosen == Dtype.int8
    return Quantize(
        dtype=chosen.value,
        enabled=enabled,
        calibrate_mode=model.deploy.calibrate_mode.value if enabled else "none",
        per_channel=model.deploy.per_channel,
        calib_dir=calib_dir if calib_dir is not None else CALIB_PLACEHOLDER,
        calib_count=model.deploy.calib_count,
    )


def _calibration_note(quantize: Quantize, calib_dir: str | None) -> list[str]:
    if quantize.enabled and calib_dir is None:
        return [f"int8 calibration folder `{CALIB_PLACEHOLDER}` is a placeholder; "
                "pass --calib-dir (e.g. the output of `zoo calib`)"]
    return []


def _legacy(model: Model, crop: Crop, colour: Colour, normalise: Normalise) -> Legacy:
    _, height, width = model.input_size
    op = vdsp_sdk1.op_type(model.preprocess.crop_mode, crop.enabled, height == width)
    return Legacy(
        op_type=op,
        crop=op == vdsp_sdk1.OP_RESIZE_CROP,
        image_format=vdsp_sdk1.IMAGE_FORMAT,
        resize_type=vdsp_sdk1.RESIZE_BILINEAR,
        color_cvt_code=vdsp_sdk1.COLOR_CODES[colour.cvt_code],
        color_space=vdsp_sdk1.COLOR_SPACE,
        norm_type=vdsp_sdk1.NORM_CODES[normalise.norm_type],
        vamp_color_cvt_code=vdsp_vamp.color_cvt_code(colour.cvt_code),
    )


def _paths(model: Model, quantize: Quantize, onnx_path: Path | None, model_dir: Path | None) -> Paths:
    channels, height, width = model.input_size
    compiled = f"{model.name}-{quantize.dtype}-{quantize.calibrate_mode}-{channels}_{height}_{width}-vacc"
    return Paths(
        checkpoint=_checkpoint(model, onnx_path, model_dir),
        workspace=f"./{WORKSPACE}/",
        compiled_folder=compiled,
        compiled_model=f"{WORKSPACE}/{compiled}/{model.name}",
        model_lib=f"{WORKSPACE}/{compiled}/{model.name}.so",
        model_graph=f"{WORKSPACE}/{compiled}/{model.name}.json",
        model_params=f"{WORKSPACE}/{compiled}/{model.name}.params",
        hw_config_file=model_info.HW_CONFIG_FILE,
    )


def _checkpoint(model: Model, onnx_path: Path | None, model_dir: Path | None) -> str:
    if onnx_path is None:
        return f"{model.stem}.onnx"
    if onnx_path.is_absolute() and model_dir is not None:
        return Path(os.path.relpath(onnx_path, model_dir.absolute())).as_posix()
    return onnx_path.as_posix()
