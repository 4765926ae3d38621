"""Which VDSP resize type each vdsp_params dialect writes for a model.

`BILINEAR_CV` is OpenCV's bilinear arithmetic (no smoothing when shrinking), `BILINEAR_PILLOW`
Pillow's bilinear filter (which widens when shrinking): each is exact for a source that resizes
bilinearly with that library. `deploy.resize_type: auto` writes, in each dialect, the exact type
when the dialect can say it, else the dialect's fallback (`BILINEAR_CV`). A source that resizes
bicubic, lanczos or nearest has no exact type and keeps `BILINEAR_CV`: on photographs neither
bilinear filter is consistently closer to those. An explicit type is written where the dialect
can say it; a dialect that cannot leaves it None and refuses to render (never a substitute).
"""

from __future__ import annotations

from zoo.deploy import vdsp, vdsp_build_in, vdsp_sdk1, vdsp_vamp
from zoo.deploy.context import Dialect
from zoo.manifest.schema import Interpolation, Model, ResizeBackend, ResizeType

#: The resize types each vdsp_params dialect can write, its fallback first.
WRITABLE: dict[Dialect, tuple[str, ...]] = {
    vdsp_build_in.DIALECT: vdsp_build_in.RESIZE_TYPES,
    vdsp_sdk1.DIALECT: tuple(vdsp_sdk1.RESIZE_CODES),
    vdsp_vamp.DIALECT: vdsp_vamp.RESIZE_TYPES,
}
#: The image library whose bilinear arithmetic each resize type reproduces.
LIBRARY_OF = {vdsp.RESIZE_CV: ResizeBackend.cv2, vdsp.RESIZE_PILLOW: ResizeBackend.pil}


def exact_type(model: Model) -> str | None:
    """The VDSP resize type that resizes exactly as the source does (None: none does)."""
    pre = model.preprocess
    if pre.interpolation != Interpolation.bilinear:
        return None
    return vdsp.RESIZE_PILLOW if pre.resize_backend == ResizeBackend.pil else vdsp.RESIZE_CV


def written_type(model: Model, writable: tuple[str, ...]) -> str | None:
    """The type a dialect able to write `writable` writes for `model`; None if it cannot write the manifest's choice."""
    chosen = model.deploy.resize_type
    if chosen != ResizeType.auto:
        return chosen.value if chosen.value in writable else None
    exact = exact_type(model)
    return exact if exact in writable else writable[0]


def written_types(model: Model) -> dict[Dialect, str | None]:
    """The resize type of every vdsp_params dialect for `model`."""
    return {dialect: written_type(model, writable) for dialect, writable in WRITABLE.items()}
