"""A numpy model of the VDSP pre-processing that the generated vdsp_params describe.

What the engine computes from the current (build_in) dialect: the images the runtime hands
it (`deploy.image_color`), a square resize to the configured size with the written resize type
(no aspect ratio kept), the colour conversion, the crop at the written offsets, and the
normalisation with float16 statistics, each arithmetic step rounded to float16 as the engine
computes in half precision. Every value comes from the deploy context,
the same object the templates print, so measuring this pipeline measures the files.

`pipelines` hands `zoo.measure.evaluate` the pipelines `zoo eval --preprocess` names: the
source library's eval transform and this one, so that one run measures what the files cost.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING

from zoo.deploy import vdsp
from zoo.deploy.builders import build_context
from zoo.deploy.context import DeployContext, Normalise
from zoo.errors import StepError
from zoo.manifest.schema import Color, Model
from zoo.measure.imaging import PIL_FILTERS, resize_bilinear_cv, resize_pil
from zoo.measure.preprocess import source_pipeline

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from zoo.measure.evaluate import Pipeline


#: The pipelines `zoo eval --preprocess` can name, in the order results list them.
PIPELINES = ("source", "deploy")


def pipelines(model: Model, names: Iterable[str]) -> dict[str, Pipeline]:
    """The pre-processing functions called `names` for `model` (see `PIPELINES`)."""
    chosen: dict[str, Pipeline] = {}
    for name in names:
        if name == "source":
            chosen[name] = functools.partial(source_pipeline, model=model)
        elif name == "deploy":
            chosen[name] = functools.partial(deploy_pipeline, context=build_context(model))
        else:
            raise StepError(f"unknown pre-processing pipeline {name!r}; use one of: {', '.join(PIPELINES)}")
    return chosen


def deploy_pipeline(image: Image.Image, context: DeployContext) -> np.ndarray:
    """Preprocess a PIL image as the deployment files of `context` describe; float32 CHW."""
    import numpy as np

    pixels = np.asarray(image.convert("RGB"))
    if context.colour.image_color == Color.BGR:  # what the runtime hands the engine
        pixels = pixels[..., ::-1]
    pixels = resize_deploy(pixels, context.resize.height, context.resize.width, context.resize.type)
    if context.colour.cvt_code != vdsp.NO_CHANGE:  # RGB2BGR or BGR2RGB: both reverse the channels
        pixels = pixels[..., ::-1]
    if context.crop.enabled:
        x, y = context.crop.x, context.crop.y
        pixels = pixels[y : y + context.input.height, x : x + context.input.width]
    return np.ascontiguousarray(_normalise_fp16(pixels, context.normalise).transpose(2, 0, 1), dtype=np.float32)


def resize_deploy(pixels: np.ndarray, height: int, width: int, resize_type: str) -> np.ndarray:
    """Resize uint8 HWC `pixels` to exactly `height x width` with a VDSP resize type.

    `BILINEAR_CV` is OpenCV's `cv2.resize(..., INTER_LINEAR)` bit for bit; `BILINEAR_PILLOW`
    is Pillow's bilinear filter itself, which also smooths when shrinking. Other names are a
    caller's bug: the deploy context writes only these two.
    """
    if resize_type == vdsp.RESIZE_CV:
        return resize_bilinear_cv(pixels, height, width)
    if resize_type == vdsp.RESIZE_PILLOW:
        return resize_pil(pixels, height, width, resample=PIL_FILTERS["bilinear"])
    raise ValueError(f"resize type {resize_type!r} has no emulation; known: {vdsp.RESIZE_CV}, {vdsp.RESIZE_PILLOW}")


def _normalise_fp16(pixels: np.ndarray, normalise: Normalise) -> np.ndarray:
    """The VDSP normalisation, every step rounded to float16 (x/255, minus mean, over std; EQUAL: none)."""
    import numpy as np

    values = pixels.astype(np.float16)
    mean = np.asarray(normalise.mean_fp16, np.float16)
    std = np.asarray(normalise.std_fp16, np.float16)
    if normalise.norm_type == vdsp.NORM_DIV255_MEAN_STD:
        return ((values / np.float16(255)) - mean) / std
    if normalise.norm_type == vdsp.NORM_DIV255:
        return values / np.float16(255)
    if normalise.norm_type == vdsp.NORM_MEAN_STD:
        return (values - mean) / std
    if normalise.norm_type == vdsp.NORM_EQUAL:
        return values
    # vdsp.norm_type() returns one of the four above; anything else is a bug, not a user mistake
    raise AssertionError(f"norm type {normalise.norm_type!r} has no emulation")
