"""What the VDSP pre-processing engine does, as every vdsp_params dialect names it.

The engine receives RGB_PLANAR images, resizes them bilinearly (`BILINEAR_CV`: OpenCV's
arithmetic), converts the colour, then normalises in float16. A model trained on BGR
therefore needs `RGB2BGR`, and its statistics follow the network's channel order (B, G, R).
See docs/formats.md, "Pre-processing arithmetic".
"""

from __future__ import annotations

from collections.abc import Sequence

IMAGE_FORMAT = "RGB_PLANAR"
#: The resize type of every published classifier file; the engine has no bicubic.
RESIZE_TYPE = "BILINEAR_CV"

#: How the vamp benchmark runner reads a vdsp_params file (see `zoo.deploy.output.Output.command`).
VAMP_COMMAND = "vamp -m {model} --vdsp_params {file} -i 8 -p 1 -b 16"

NO_CHANGE = "NO_CHANGE"
RGB2BGR = "RGB2BGR"

#: x / 255, then minus mean, over std: statistics on the 0..1 scale.
NORM_DIV255_MEAN_STD = "DIV255_MINUSMEAN_DIVSTD"
#: x / 255 only: statistics of mean 0 and std 1 leave nothing to subtract or divide.
NORM_DIV255 = "DIV255"
#: minus mean, over std: statistics on the 0..255 scale.
NORM_MEAN_STD = "MINUSMEAN_DIVSTD"


def norm_type(byte_range: bool, mean: Sequence[float], std: Sequence[float]) -> str:
    """The engine's normalisation for statistics on the 0..255 (`byte_range`) or 0..1 scale."""
    if byte_range:
        return NORM_MEAN_STD
    if all(m == 0 for m in mean) and all(s == 1 for s in std):
        return NORM_DIV255
    return NORM_DIV255_MEAN_STD


def color_cvt_code(bgr: bool) -> str:
    """The conversion from the RGB_PLANAR input to the channel order the network expects."""
    return RGB2BGR if bgr else NO_CHANGE
