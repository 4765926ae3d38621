"""The arithmetic of a source library's eval transform, where the libraries disagree.

The libraries agree on the steps (resize the shorter side, center crop, scale to 0..1,
normalise) but not on their arithmetic: how the resized size is rounded, how the crop offset
is rounded, and how pixels are scaled to 0..1. `SourceRules` holds those three choices; each
library states its own as `eval_rules`, and the reference pipeline
(`zoo.measure.preprocess.source_pipeline`) applies them. torchvision's rules, which timm and
every torchvision-style export share, are here; a library with its own keeps them in its module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zoo.manifest.derived import crop_offset, scale_size

if TYPE_CHECKING:
    import numpy as np

    from zoo.manifest.schema import Preprocess


@dataclass(frozen=True)
class SourceRules:
    """The arithmetic of one library's eval transform, where the libraries disagree."""

    #: center mode: (image width, image height, preprocess, input height, input width) -> resized (w, h)
    resized_size: Callable[[int, int, Preprocess, int, int], tuple[int, int]]
    #: (resized side, cropped side) -> index of the first pixel kept
    crop_offset: Callable[[int, int], int]
    #: float32 pixels on 0..255 -> 0..1
    unit_scale: Callable[[np.ndarray], np.ndarray]


def shorter_side(pre: Preprocess, height: int, width: int) -> int:
    """The shorter-side length PaddleClas' `resize_short` and mmpretrain's `ResizeEdge` are given."""
    return pre.resize if pre.resize is not None else min(scale_size(pre, height, width))


def truncate_longer(w: int, h: int, short: int) -> tuple[int, int]:
    """The shorter side becomes `short`, the longer one `int(short * long / shorter)` (truncated)."""
    if w <= h:
        return short, int(short * h / w)
    return int(short * w / h), short


def keep_ratio(w: int, h: int, target_h: int, target_w: int, *, fit_longest: bool) -> tuple[int, int]:
    """timm `ResizeKeepRatio`: one ratio for both sides so that the image covers the target
    (`fit_longest=False`) or fits inside it (border mode); sides rounded."""
    ratios = (h / target_h, w / target_w)
    ratio = max(ratios) if fit_longest else min(ratios)
    return round(w / ratio), round(h / ratio)


def _torchvision_size(w: int, h: int, pre: Preprocess, height: int, width: int) -> tuple[int, int]:
    """torchvision `Resize(int)` for a square target; timm's `ResizeKeepRatio` for another one."""
    target_h, target_w = scale_size(pre, height, width)
    if target_h == target_w:
        return truncate_longer(w, h, target_h)
    return keep_ratio(w, h, target_h, target_w, fit_longest=False)


def divide_by_255(array: np.ndarray) -> np.ndarray:
    """torchvision `ToTensor`: `x / 255`."""
    import numpy as np

    return array / np.float32(255.0)


#: torchvision's eval transform (`Resize(int)`, `CenterCrop`, `ToTensor`); timm's is built of
#: torchvision transforms, and PyTorch or ONNX exports without a library of their own follow it.
TORCHVISION_RULES = SourceRules(_torchvision_size, crop_offset, divide_by_255)
