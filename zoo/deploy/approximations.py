"""Every way the deployment files differ from the source library's pre-processing.

Each approximation names the dialects whose files it affects, so a profile reports only its
own. Reasons (docs/formats.md, "Approximations"): VDSP and vamc resize bilinearly only; the
fixed-size files (vamc, build_in) do not keep the aspect ratio while the legacy vdsp files
resize the shorter side; a file whose resize type is the other image library's bilinear than
the source's (`zoo.deploy.resize_filter`); float16 statistics can round coarsely; the legacy
vamc calibration pipeline has no colour conversion. Without int8 calibration the build YAML
resizes nothing, so it shares no approximation.
"""

from __future__ import annotations

from dataclasses import replace

from zoo.deploy import vamc, vamc_legacy, vdsp_build_in, vdsp_sdk1, vdsp_vamp
from zoo.deploy.context import Approximation, Dialect
from zoo.deploy.resize_filter import LIBRARY_OF
from zoo.manifest.derived import Derived
from zoo.manifest.schema import Color, CropMode, Interpolation, Model, ResizeBackend

#: A float16 statistic whose relative rounding error exceeds this is reported. Half precision
#: keeps 11 significant bits (relative error <= 2**-11 ~ 4.9e-4 for normal numbers), so this
#: flags values float16 represents badly: tiny (subnormal) ones.
FP16_TOLERANCE = 1e-3

VAMC = frozenset({vamc.DIALECT, vamc_legacy.DIALECT})
VDSP = frozenset({vdsp_build_in.DIALECT, vdsp_sdk1.DIALECT, vdsp_vamp.DIALECT})
#: Files that resize to a fixed width x height (no aspect ratio kept).
FIXED_RESIZE = VAMC | {vdsp_build_in.DIALECT}
#: Files that resize the shorter side (`short_edge_threshold`).
SHORT_EDGE = frozenset({vdsp_sdk1.DIALECT, vdsp_vamp.DIALECT})
#: What a resize type of the other image library than the source's does differently.
FILTER_DETAIL = {
    ResizeBackend.pil: "the source resizes with PIL, whose bilinear filter smooths when downscaling; "
                       "VDSP's {type} is OpenCV's, which does not",
    ResizeBackend.cv2: "the source resizes with OpenCV, whose bilinear filter does not smooth when downscaling; "
                       "VDSP's {type} is Pillow's, which does",
}


def approximations(model: Model, derived: Derived, legacy_op: int, quantize: bool,
                   resize_types: dict[Dialect, str | None]) -> tuple[Approximation, ...]:
    """The approximations of `model`'s files (`legacy_op`: the sdk1.0 op; `quantize`: int8 calibration;
    `resize_types`: what each vdsp_params dialect writes, see `zoo.deploy.resize_filter`)."""
    pre = model.preprocess
    found: list[Approximation] = []
    if pre.interpolation != Interpolation.bilinear:
        written = ", ".join(sorted({t for t in resize_types.values() if t is not None}))
        found.append(Approximation(
            "interpolation",
            f"the source resizes with {pre.interpolation.value}; VDSP and the vamc calibration pipeline "
            f"resize bilinearly ({written}), they have no {pre.interpolation.value}",
            VAMC | VDSP,
        ))
    found += _resize_filter(pre.resize_backend, resize_types)
    found += _resize(model, derived, legacy_op)
    found += _fp16_statistics(derived)
    if pre.color == Color.BGR:
        found.append(Approximation(
            "colour",
            "the model expects BGR; the legacy vamc calibration pipeline has no documented colour conversion, "
            "so int8 calibration images are read in the decoder's channel order, not converted to BGR",
            frozenset({vamc_legacy.DIALECT}),
        ))
    if not quantize:  # without calibration the build YAML resizes nothing
        found = [replace(a, dialects=a.dialects - VAMC) for a in found if a.dialects - VAMC]
    return tuple(found)


def _resize_filter(source: ResizeBackend, resize_types: dict[Dialect, str | None]) -> list[Approximation]:
    """One approximation per resize type written that is the other image library's bilinear."""
    by_type: dict[str, set[Dialect]] = {}
    for dialect, written in resize_types.items():
        if written is not None and LIBRARY_OF[written] != source:
            by_type.setdefault(written, set()).add(dialect)
    return [Approximation("resize filter", FILTER_DETAIL[source].format(type=written), frozenset(dialects))
            for written, dialects in by_type.items()]


def _source_resize(model: Model, derived: Derived) -> tuple[str, str]:
    """How the source resizes, for people, and its kind: fixed, border, short or cover."""
    _, height, width = model.input_size
    rh, rw = derived.resize_height, derived.resize_width
    mode = model.preprocess.crop_mode
    if mode == CropMode.squash:
        return f"resizes every image to {rw}x{rh} without keeping the aspect ratio", "fixed"
    if mode == CropMode.border:
        return (f"keeps the aspect ratio and pads where the image is smaller than {width}x{height} "
                "(crop_mode border)"), "border"
    if height == width:
        return f"resizes the shorter side to {rh} keeping the aspect ratio", "short"
    return f"resizes keeping the aspect ratio until the image covers {rw}x{rh}", "cover"


def _resize(model: Model, derived: Derived, legacy_op: int) -> list[Approximation]:
    """Compare how the source resizes with how each kind of file resizes."""
    _, height, width = model.input_size
    rh, rw = derived.resize_height, derived.resize_width
    source, source_kind = _source_resize(model, derived)
    found = []
    if source_kind != "fixed":
        found.append(Approximation(
            "resize", f"the source {source}; these files resize every image to {rw}x{rh}, "
            "not keeping the aspect ratio", FIXED_RESIZE,
        ))
    if height != width:
        return found + _non_square(height, width)
    short_edge = set(SHORT_EDGE)
    if legacy_op == vdsp_sdk1.OP_RESIZE:  # squash without crop: sdk1.0 op 301 is exact
        short_edge.discard(vdsp_sdk1.DIALECT)
    if source_kind != "short" and short_edge:
        found.append(Approximation(
            "resize", f"the source {source}; these files resize the shorter side to {rh} "
            "(short_edge_threshold) keeping the aspect ratio", frozenset(short_edge),
        ))
    return found


def _non_square(height: int, width: int) -> list[Approximation]:
    return [
        Approximation(
            "non-square input", f"the input is {width}x{height} but the sdk1.0 format crops one square size, "
            f"so op {vdsp_sdk1.OP_RESIZE} resizes straight to {width}x{height} without the center crop",
            frozenset({vdsp_sdk1.DIALECT}),
        ),
        Approximation(
            "non-square input", f"the input is {width}x{height}; Resize and CenterCrop sizes are written as "
            "[height, width] and the published vamc examples are all square, so check that order for your "
            "vamc version", VAMC,
        ),
    ]


def _fp16_statistics(derived: Derived) -> list[Approximation]:
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
