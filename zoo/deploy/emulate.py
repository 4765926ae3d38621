"""A numpy model of the VDSP pre-processing that the generated vdsp_params describe.

What the engine computes from the current (build_in) dialect: a square resize to the
configured size (no aspect ratio kept), the colour conversion, the crop at the written
offsets, and the normalisation with float16 statistics, each arithmetic step rounded to
float16 as the engine computes in half precision. Every value comes from the deploy context,
the same object the templates print, so measuring this pipeline measures the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from zoo.manifest.schema import Model
from zoo.measure.imaging import PIL_FILTERS, resize_bilinear_cv, resize_pil

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image


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
        return resize_pil(pixels, height, width, resample=PIL_FILTERS["bilinear"])
    raise ValueError(f"resize type {resize_type!r} has no emulation; known: BILINEAR_CV, BILINEAR, BILINEAR_PILLOW")


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

