"""Numbers derived from a model's preprocessing, and the reference pipeline that applies it.

Derived numbers (resize size, crop offsets, float16 statistics) are what the deployment
files and `zoo show` print (timm/torchvision rules: the resize size is floored, crop offsets
use Python's half-to-even `round`); the source pipeline is what validation and evaluation
feed the network, following each source library's own rules (`SOURCE_RULES`).
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zoo.errors import ZooError
from zoo.manifest.schema import Color, CropMode, Interpolation, Library, Model, Preprocess, ResizeBackend, ValueRange

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image


def fp16(value: float) -> float:
    """`value` rounded to IEEE half precision (round half to even) and read back."""
    return struct.unpack("<e", struct.pack("<e", value))[0]


def fp16_bits(value: float) -> int:
    """The IEEE half-precision bit pattern of `value` as an unsigned 16-bit integer."""
    return struct.unpack("<H", struct.pack("<e", value))[0]


def scale_size(pre: Preprocess, height: int, width: int) -> tuple[int, int]:
    """Size (H, W) the image is resized to before cropping `height x width`.

    `resize` wins when the source states it; otherwise floor(size / crop_pct) per side.
    For a square input this is the shorter-side target the source libraries use.
    """
    if pre.resize is not None:
        if height == width:
            return pre.resize, pre.resize
        ratio = pre.resize / min(height, width)
        return math.floor(height * ratio), math.floor(width * ratio)
    assert pre.crop_pct is not None  # guaranteed by Preprocess validation
    return math.floor(height / pre.crop_pct), math.floor(width / pre.crop_pct)


def crop_offset(outer: int, inner: int) -> int:
    """Center-crop offset with torchvision's rounding (half to even: 5.5 -> 6, 4.5 -> 4)."""
    return int(round((outer - inner) / 2.0))


@dataclass(frozen=True)
class Derived:
    """Everything `zoo show` and the deploy files compute from one model's preprocessing."""

    input_height: int
    input_width: int
    resize_height: int
    resize_width: int
    crop_x: int
    crop_y: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    mean_fp16: tuple[float, float, float]
    std_fp16: tuple[float, float, float]
    mean_bits: tuple[int, int, int]
    std_bits: tuple[int, int, int]


def derive(model: Model) -> Derived:
    """Compute the derived preprocessing numbers of a model."""
    pre = model.preprocess
    _, height, width = model.input_size
    resize_h, resize_w = scale_size(pre, height, width)
    mean, std = pre.mean, pre.std
    return Derived(
        input_height=height,
        input_width=width,
        resize_height=resize_h,
        resize_width=resize_w,
        crop_x=crop_offset(resize_w, width),
        crop_y=crop_offset(resize_h, height),
        mean=mean,
        std=std,
        mean_fp16=_map3(fp16, mean),
        std_fp16=_map3(fp16, std),
        mean_bits=_map3(fp16_bits, mean),
        std_bits=_map3(fp16_bits, std),
    )


def _map3(fn, values):  # type: ignore[no-untyped-def]
    return (fn(values[0]), fn(values[1]), fn(values[2]))


_PIL_FILTERS = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3}


# Source pipeline --------------------------------------------------------------------------
#
# What each source library's own eval transform feeds the network. The libraries agree on the
# steps (resize the shorter side, center crop, scale to 0..1, normalise) but not on their
# arithmetic, so the differences live in one table, `SOURCE_RULES`, keyed by `source.library`;
# the resize filter comes from `preprocess.resize_backend` and `preprocess.interpolation`.


@dataclass(frozen=True)
class SourceRules:
    """The arithmetic of one library's eval transform, where the libraries disagree."""

    #: center mode: (image width, image height, preprocess, input height, input width) -> resized (w, h)
    resized_size: Callable[[int, int, Preprocess, int, int], tuple[int, int]]
    #: (resized side, cropped side) -> index of the first pixel kept
    crop_offset: Callable[[int, int], int]
    #: float32 pixels on 0..255 -> 0..1
    unit_scale: Callable[[np.ndarray], np.ndarray]


def _shorter_side(pre: Preprocess, height: int, width: int) -> int:
    """The shorter-side length PaddleClas' `resize_short` and mmpretrain's `ResizeEdge` are given."""
    return pre.resize if pre.resize is not None else min(scale_size(pre, height, width))


def _truncate_longer(w: int, h: int, short: int) -> tuple[int, int]:
    """The shorter side becomes `short`, the longer one `int(short * long / shorter)` (truncated)."""
    if w <= h:
        return short, int(short * h / w)
    return int(short * w / h), short


def _keep_ratio(w: int, h: int, target_h: int, target_w: int, *, fit_longest: bool) -> tuple[int, int]:
    """timm `ResizeKeepRatio`: one ratio for both sides so that the image covers the target
    (`fit_longest=False`) or fits inside it (border mode); sides rounded."""
    ratios = (h / target_h, w / target_w)
    ratio = max(ratios) if fit_longest else min(ratios)
    return round(w / ratio), round(h / ratio)


def _torchvision_size(w: int, h: int, pre: Preprocess, height: int, width: int) -> tuple[int, int]:
    """torchvision `Resize(int)` for a square target; timm's `ResizeKeepRatio` for another one."""
    target_h, target_w = scale_size(pre, height, width)
    if target_h == target_w:
        return _truncate_longer(w, h, target_h)
    return _keep_ratio(w, h, target_h, target_w, fit_longest=False)


def _mmcv_size(w: int, h: int, pre: Preprocess, height: int, width: int) -> tuple[int, int]:
    """mmpretrain `ResizeEdge(scale, edge='short')` (mmcls 0.x `Resize(size=(scale, -1))`)."""
    return _truncate_longer(w, h, _shorter_side(pre, height, width))


def _paddle_size(w: int, h: int, pre: Preprocess, height: int, width: int) -> tuple[int, int]:
    """PaddleClas `ResizeImage(resize_short)`: both sides times `resize_short / shorter`, each
    rounded with Python's `round` (so the longer side is rounded, not truncated)."""
    percent = float(_shorter_side(pre, height, width)) / min(w, h)
    return int(round(w * percent)), int(round(h * percent))


def _floor_offset(outer: int, inner: int) -> int:
    """PaddleClas `CropImage`: `(outer - inner) // 2`."""
    return (outer - inner) // 2


def _divide_by_255(array: np.ndarray) -> np.ndarray:
    """torchvision `ToTensor`: `x / 255`."""
    import numpy as np

    return array / np.float32(255.0)


def _times_reciprocal_255(array: np.ndarray) -> np.ndarray:
    """PaddleClas `NormalizeImage(scale=1.0/255.0)`: `x * float32(1/255)`, which can differ from
    `x / 255` in the last bit."""
    import numpy as np

    return array * np.float32(1.0 / 255.0)


_TORCHVISION_RULES = SourceRules(_torchvision_size, crop_offset, _divide_by_255)

#: Each library's eval transform, as its source code computes it (the tests compare with it).
SOURCE_RULES: dict[Library, SourceRules] = {
    Library.timm: _TORCHVISION_RULES,  # timm's eval transform is built of torchvision transforms
    Library.torchvision: _TORCHVISION_RULES,
    Library.python: _TORCHVISION_RULES,
    Library.onnx: _TORCHVISION_RULES,
    # mmpretrain ResizeEdge + mmcv CenterCrop (`int(round(...))`) + ClsDataPreprocessor (x - mean) / std
    Library.mmcls: SourceRules(_mmcv_size, crop_offset, _divide_by_255),
    # PaddleClas ResizeImage + CropImage + NormalizeImage
    Library.ppcls: SourceRules(_paddle_size, _floor_offset, _times_reciprocal_255),
}


def source_pipeline(image: Image.Image, model: Model) -> np.ndarray:
    """Preprocess a PIL image exactly as the source library's eval transform does.

    Returns a float32 CHW array (no batch axis): resize (shorter side, squash or keep-ratio by
    `crop_mode`), center crop, scale to the model's value range, normalise, and reorder
    channels for BGR-trained models. Size rounding, crop offsets and the 0..1 scaling follow
    `SOURCE_RULES[model.source.library]`; squash and border mode follow timm for every library.

    The resize filter follows `resize_backend`: `pil` is Pillow itself (what torchvision, timm,
    mmcv's `pillow` backend and PaddleClas' `pil` backend call); `cv2` is OpenCV's 8-bit
    `INTER_LINEAR` or `INTER_CUBIC` emulated in numpy (`resize_bilinear_cv`,
    `resize_bicubic_cv`), so OpenCV is not needed.

    The one remaining difference is decoding: the image arrives decoded by Pillow, while
    PaddleClas and mmpretrain decode with OpenCV; two libjpeg builds may differ by a few
    levels on some JPEG pixels. From the same RGB pixels on, the result equals the source
    library's (tests/test_source_pipeline.py).
    """
    import numpy as np

    pre = model.preprocess
    rules = SOURCE_RULES[model.source.library]
    resize = _resizer(model)
    _, height, width = model.input_size
    pixels = np.asarray(image.convert("RGB"))
    image_h, image_w = pixels.shape[:2]
    target_h, target_w = scale_size(pre, height, width)
    if pre.crop_mode == CropMode.squash:
        new_w, new_h = target_w, target_h
    elif pre.crop_mode == CropMode.border:
        new_w, new_h = _keep_ratio(image_w, image_h, target_h, target_w, fit_longest=True)
    else:
        new_w, new_h = rules.resized_size(image_w, image_h, pre, height, width)
    if (new_h, new_w) != (image_h, image_w):  # every library leaves an image of the right size alone
        pixels = resize(pixels, new_h, new_w)
    if pre.crop_mode == CropMode.border:
        pixels = _pad_to(pixels, height, width, _border_fill(pre))
    elif new_h < height or new_w < width:
        raise ZooError(
            f"{model.id}: the image resized to {new_w}x{new_h} is smaller than the {width}x{height} input; "
            "preprocess.resize must be at least the input size"
        )
    top = rules.crop_offset(pixels.shape[0], height)
    left = rules.crop_offset(pixels.shape[1], width)
    array: np.ndarray = pixels[top : top + height, left : left + width].astype(np.float32)
    if pre.value_range == ValueRange.unit:
        array = rules.unit_scale(array)
    array = (array - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)
    if pre.color == Color.BGR:
        array = array[..., ::-1]
    return np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32)


def _resizer(model: Model) -> Callable[[np.ndarray, int, int], np.ndarray]:
    """`(uint8 HWC pixels, height, width) -> pixels` with the filter `model`'s source uses."""
    pre = model.preprocess
    if pre.resize_backend == ResizeBackend.pil:
        return functools.partial(_resize_pil, resample=_PIL_FILTERS[pre.interpolation.value])
    opencv = {Interpolation.bilinear: resize_bilinear_cv, Interpolation.bicubic: resize_bicubic_cv}
    if pre.interpolation not in opencv:
        raise ZooError(
            f"{model.id}: preprocess.interpolation `{pre.interpolation.value}` with resize_backend `cv2` "
            f"has no OpenCV emulation (known: {', '.join(i.value for i in opencv)}); "
            "use one of those, or resize_backend `pil` if the source resizes with Pillow"
        )
    return opencv[pre.interpolation]


def _resize_pil(pixels: np.ndarray, height: int, width: int, *, resample: int) -> np.ndarray:
    """Pillow's resize of uint8 HWC pixels (what torchvision does to a PIL image)."""
    import numpy as np
    from PIL import Image as PILImage

    return np.asarray(PILImage.fromarray(pixels).resize((width, height), resample))


def _border_fill(pre: Preprocess) -> tuple[int, int, int]:
    """timm's padding colour in border mode: the mean, on the 0..255 scale, rounded."""
    scale = 255.0 if pre.value_range == ValueRange.unit else 1.0
    return (round(pre.mean[0] * scale), round(pre.mean[1] * scale), round(pre.mean[2] * scale))


def _pad_to(pixels: np.ndarray, height: int, width: int, fill: tuple[int, int, int]) -> np.ndarray:
    """Pad with `fill`, image centred (left/top pad floored), so that a crop of `height x width`
    fits (timm's `CenterCropOrPad`)."""
    import numpy as np

    h, w = pixels.shape[:2]
    if h >= height and w >= width:
        return pixels
    canvas = np.empty((max(height, h), max(width, w), 3), np.uint8)
    canvas[...] = fill
    top, left = (canvas.shape[0] - h) // 2, (canvas.shape[1] - w) // 2
    canvas[top : top + h, left : left + w] = pixels
    return canvas


# Deployment pipeline ----------------------------------------------------------------------
#
# What the VDSP engine computes from the generated vdsp_params (current build_in dialect), so
# that its accuracy cost can be measured on a CPU before any hardware is involved: a square
# resize to the configured size (no aspect ratio kept), the colour conversion, the crop at the
# written offsets, and the normalisation with float16 statistics, each arithmetic step rounded
# to float16 as the engine computes in half precision. Every value comes from the deploy
# context (`zoo.deploy.context.build_context`), the same object the templates print.


@dataclass(frozen=True)
class DeploySpec:
    """The values of a generated vdsp_params file that change the pixels the network sees."""

    resize_height: int
    resize_width: int
    crop: bool
    crop_x: int
    crop_y: int
    height: int
    width: int
    resize_type: str
    color_cvt_code: str
    norm_type: str
    mean: tuple[float, float, float]  # float16 values, in the network's channel order
    std: tuple[float, float, float]


def deploy_spec(model: Model) -> DeploySpec:
    """The deploy pipeline's parameters for `model`, read from its deploy context."""
    from zoo.deploy.context import build_context

    ctx = build_context(model)
    return DeploySpec(
        resize_height=ctx.resize_height,
        resize_width=ctx.resize_width,
        crop=ctx.crop,
        crop_x=ctx.crop_x,
        crop_y=ctx.crop_y,
        height=ctx.height,
        width=ctx.width,
        resize_type=ctx.resize_type,
        color_cvt_code=ctx.color_cvt_code,
        norm_type=ctx.norm_type,
        mean=ctx.mean_fp16,
        std=ctx.std_fp16,
    )


def deploy_pipeline(image: Image.Image, model: Model, spec: DeploySpec | None = None) -> np.ndarray:
    """Preprocess a PIL image as the generated deployment files describe; float32 CHW.

    Pass `spec` (from `deploy_spec`) when calling it for many images of one model.
    """
    import numpy as np

    spec = spec or deploy_spec(model)
    pixels = np.asarray(image.convert("RGB"))
    pixels = resize_deploy(pixels, spec.resize_height, spec.resize_width, spec.resize_type)
    if spec.color_cvt_code in ("RGB2BGR", "BGR2RGB"):
        pixels = pixels[..., ::-1]
    if spec.crop:
        pixels = pixels[spec.crop_y : spec.crop_y + spec.height, spec.crop_x : spec.crop_x + spec.width]
    return np.ascontiguousarray(_normalise_fp16(pixels, spec).transpose(2, 0, 1), dtype=np.float32)


def resize_deploy(pixels: np.ndarray, height: int, width: int, resize_type: str) -> np.ndarray:
    """Resize uint8 HWC `pixels` to exactly `height x width` with a VDSP resize type.

    `BILINEAR_CV` (and plain `BILINEAR`) emulate OpenCV's `cv2.resize(..., INTER_LINEAR)`;
    `BILINEAR_PILLOW` is Pillow's bilinear filter, which also smooths when shrinking.
    """
    if resize_type in ("BILINEAR_CV", "BILINEAR"):
        return resize_bilinear_cv(pixels, height, width)
    if resize_type == "BILINEAR_PILLOW":
        import numpy as np
        from PIL import Image as PILImage

        resized = PILImage.fromarray(pixels).resize((width, height), _PIL_FILTERS["bilinear"])
        return np.asarray(resized)
    raise ValueError(f"resize type {resize_type!r} has no emulation; known: BILINEAR_CV, BILINEAR, BILINEAR_PILLOW")


#: OpenCV's fixed-point precision for 8-bit bilinear resizing (INTER_RESIZE_COEF_BITS).
_CV_COEF_SCALE = 1 << 11


def resize_bilinear_cv(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """OpenCV's 8-bit `INTER_LINEAR` resize, bit for bit, in numpy.

    Half-pixel centres, no smoothing when shrinking, and OpenCV's fixed-point arithmetic:
    weights rounded to 1/2048, a horizontal pass kept in integers, then the vertical pass as
    its vectorised code computes it, `((b0*(r0>>4))>>16 + (b1*(r1>>4))>>16 + 2) >> 2`.
    Horizontal weights are clamped at the borders, vertical ones are not (the row index is).
    The tests compare it with cv2 itself.
    """
    import numpy as np

    src_h, src_w = pixels.shape[:2]
    x0, x1, ax0, ax1 = _cv_linear_weights(src_w, width, clamp_weights=True)
    y0, y1, by0, by1 = _cv_linear_weights(src_h, height, clamp_weights=False)
    wide = pixels.astype(np.int64)
    if wide.ndim == 2:
        wide = wide[..., None]
    rows = wide[:, x0] * ax0[None, :, None] + wide[:, x1] * ax1[None, :, None]
    top = (by0[:, None, None] * (rows[y0] >> 4)) >> 16
    bottom = (by1[:, None, None] * (rows[y1] >> 4)) >> 16
    out = np.clip((top + bottom + 2) >> 2, 0, 255).astype(np.uint8)
    return out if pixels.ndim == 3 else out[..., 0]


def _cv_positions(src: int, dst: int):  # type: ignore[no-untyped-def]
    """Where OpenCV samples along one axis (half-pixel centres, float32): the source index
    at or left of each output pixel, and the float32 fraction past it."""
    import numpy as np

    position = ((np.arange(dst) + 0.5) * (src / dst) - 0.5).astype(np.float32)
    first = np.floor(position).astype(np.int64)
    return first, position - first.astype(np.float32)


def _cv_linear_weights(src: int, dst: int, *, clamp_weights: bool):  # type: ignore[no-untyped-def]
    """Source indices and fixed-point weights of OpenCV's linear interpolation along one axis."""
    import numpy as np

    first, fraction = _cv_positions(src, dst)
    if clamp_weights:
        below, above = first < 0, first >= src - 1
        fraction[below | above] = 0
        first = np.where(below, 0, np.where(above, src - 1, first))
    second = np.clip(first + 1, 0, src - 1)
    first = np.clip(first, 0, src - 1)
    w1 = np.round(fraction.astype(np.float64) * _CV_COEF_SCALE).astype(np.int64)
    w0 = np.round((1 - fraction).astype(np.float64) * _CV_COEF_SCALE).astype(np.int64)
    return first, second, w0, w1


#: Output values per row that OpenCV's vertical cubic pass computes in float32 vectors of this
#: many lanes (128-bit SIMD, int16 lanes); the remainder of each row takes its integer path.
_CV_CUBIC_LANES = 8


def resize_bicubic_cv(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """OpenCV's 8-bit `INTER_CUBIC` resize as its reference C++ code computes it, in numpy.

    Half-pixel centres, Keys' cubic with a = -0.75 evaluated in float32, four taps clamped
    at the borders, no smoothing when shrinking. Weights are rounded to 1/2048 and the
    horizontal pass stays in integers; the vertical pass is computed per row in float32 as
    `S0*b0 + (S1*b1 + (S2*b2 + S3*b3))`, rounded half to even, except the last
    `row length % 8` values, which take OpenCV's integer path `(sum + 2**21) >> 22`.
    This is bit for bit what `cv2.resize` returns with `cv2.setUseOptimized(False)`. With
    its optimised paths on (the default; the opencv-python wheels carry Intel IPP and
    CPU-dispatched code), OpenCV computes cubic resizing in floating point and differs from
    this by at most 1 level on about 3% of the pixels. The tests compare with both.
    """
    import numpy as np

    src_h, src_w = pixels.shape[:2]
    columns, column_weights = _cv_cubic_taps(src_w, width)
    lines, line_weights = _cv_cubic_taps(src_h, height)
    wide = pixels.astype(np.int64).reshape(src_h, src_w, -1)
    rows = sum(wide[:, columns[:, k]] * column_weights[None, :, k, None] for k in range(4))
    taps = rows[lines].reshape(height, 4, -1)  # (out rows, 4 source rows, width * channels)
    beta = line_weights.astype(np.float32) * np.float32(1.0 / _CV_COEF_SCALE**2)
    total = taps[:, 3].astype(np.float32) * beta[:, 3, None]
    for k in (2, 1, 0):
        total = taps[:, k].astype(np.float32) * beta[:, k, None] + total
    out = np.rint(total).astype(np.int64)
    vectorised = taps.shape[2] // _CV_CUBIC_LANES * _CV_CUBIC_LANES
    integer = np.einsum("rkx,rk->rx", taps[:, :, vectorised:], line_weights)
    out[:, vectorised:] = (integer + (1 << 21)) >> 22
    out = np.clip(out, 0, 255).astype(np.uint8).reshape(height, width, -1)
    return out if pixels.ndim == 3 else out[..., 0]


def _cv_cubic_taps(src: int, dst: int):  # type: ignore[no-untyped-def]
    """Source indices (4 per output pixel, clamped to the image) and fixed-point weights of
    OpenCV's cubic interpolation along one axis (`interpolateCubic`, float32 arithmetic)."""
    import numpy as np

    first, x = _cv_positions(src, dst)
    a, one = np.float32(-0.75), np.float32(1.0)
    two, three, four, five, eight = (np.float32(v) for v in (2, 3, 4, 5, 8))
    w0 = ((a * (x + one) - five * a) * (x + one) + eight * a) * (x + one) - four * a
    w1 = ((a + two) * x - (a + three)) * x * x + one
    w2 = ((a + two) * (one - x) - (a + three)) * (one - x) * (one - x) + one
    w3 = one - w0 - w1 - w2
    weights = np.rint(np.stack([w0, w1, w2, w3], axis=1) * np.float32(_CV_COEF_SCALE)).astype(np.int64)
    indices = np.clip(first[:, None] + np.arange(-1, 3)[None, :], 0, src - 1)
    return indices, weights


def _normalise_fp16(pixels: np.ndarray, spec: DeploySpec) -> np.ndarray:
    """The VDSP normalisation, every step rounded to float16 (x/255, minus mean, over std)."""
    import numpy as np

    values = pixels.astype(np.float16)
    mean = np.asarray(spec.mean, np.float16)
    std = np.asarray(spec.std, np.float16)
    if spec.norm_type == "DIV255_MINUSMEAN_DIVSTD":
        return ((values / np.float16(255)) - mean) / std
    if spec.norm_type == "DIV255":
        return values / np.float16(255)
    if spec.norm_type == "MINUSMEAN_DIVSTD":
        return (values - mean) / std
    raise ValueError(f"norm type {spec.norm_type!r} has no emulation")
