"""Exact image-resize kernels: OpenCV's 8-bit bilinear and bicubic resize in numpy, and Pillow's.

Both the source libraries' eval transforms and the VDSP engine resize with one of these
filters; reproducing them bit for bit lets zoo measure preprocessing on a CPU without OpenCV.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


PIL_FILTERS = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3}


def resize_pil(pixels: np.ndarray, height: int, width: int, *, resample: int) -> np.ndarray:
    """Pillow's resize of uint8 HWC pixels (what torchvision does to a PIL image)."""
    import numpy as np
    from PIL import Image as PILImage

    return np.asarray(PILImage.fromarray(pixels).resize((width, height), resample))


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

