"""What the VDSP pre-processing engine does, as every vdsp_params dialect names it.

The runtime hands the engine planar images (RGB_PLANAR layout) whose channels are in the
order `deploy.image_color` says (RGB by default: zoo's own tools and the published runners
convert decoded images to RGB). The engine resizes them bilinearly, converts the colour to the
network's channel order, then normalises in float16, so the statistics follow the network's
channel order. See docs/formats.md, "Pre-processing arithmetic".
"""

from __future__ import annotations

from collections.abc import Sequence

IMAGE_FORMAT = "RGB_PLANAR"

#: OpenCV's bilinear arithmetic (no smoothing when shrinking): the engine's usual resize type.
RESIZE_CV = "BILINEAR_CV"
#: Pillow's bilinear filter, which widens its support when shrinking: exact for PIL-bilinear sources.
RESIZE_PILLOW = "BILINEAR_PILLOW"

#: How the vamp benchmark runner reads a vdsp_params file (see `zoo.deploy.output.Output.command`).
VAMP_COMMAND = "vamp -m {model} --vdsp_params {file} -i 8 -p 1 -b 16"

NO_CHANGE = "NO_CHANGE"
RGB2BGR = "RGB2BGR"
BGR2RGB = "BGR2RGB"

#: x / 255, then minus mean, over std: statistics on the 0..1 scale.
NORM_DIV255_MEAN_STD = "DIV255_MINUSMEAN_DIVSTD"
#: x / 255 only: statistics of mean 0 and std 1 leave nothing to subtract or divide.
NORM_DIV255 = "DIV255"
#: minus mean, over std: statistics on the 0..255 scale.
NORM_MEAN_STD = "MINUSMEAN_DIVSTD"
#: the pixels as they are: a network that takes raw 0..255 values (mean 0, std 1 on that scale).
NORM_EQUAL = "EQUAL"


def norm_type(byte_range: bool, mean: Sequence[float], std: Sequence[float]) -> str:
    """The engine's normalisation for statistics on the 0..255 (`byte_range`) or 0..1 scale."""
    identity = all(m == 0 for m in mean) and all(s == 1 for s in std)
    if byte_range:
        return NORM_EQUAL if identity else NORM_MEAN_STD
    return NORM_DIV255 if identity else NORM_DIV255_MEAN_STD


def color_cvt_code(image_bgr: bool, network_bgr: bool) -> str:
    """The conversion from the images the engine receives to the channel order the network expects."""
    if image_bgr == network_bgr:
        return NO_CHANGE
    return BGR2RGB if image_bgr else RGB2BGR
