"""The deploy context: every value the VastAI deployment files carry, in one group per concern.

Templates only lay these values out (docs/design.md, idea 7), so a template that needs a
value the context lacks is a bug here, never a reason for logic in the template. The values
are computed by `zoo.deploy.builders`; docs/formats.md says what each one means in each file.
Templates see the groups by name: `{{ resize.height }}`, `{% if quantize.enabled %}`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

Triple = tuple[float, float, float]
Bits = tuple[int, int, int]


@dataclass(frozen=True)
class Dialect:
    """The identity of one kind of generated file; every dialect module defines its own."""

    name: str  # for people: how approximations and errors name the file kind


@dataclass(frozen=True)
class Approximation:
    """Something a deployment file cannot say exactly as the source library does it."""

    kind: str
    detail: str
    dialects: frozenset[Dialect]

    def describe(self, rendered: Iterable[Dialect]) -> str | None:
        """One line for people, naming the rendered files it affects (None if it affects none)."""
        hit = [d.name for d in dict.fromkeys(rendered) if d in self.dialects]
        if not hit:
            return None
        return f"{self.kind}: {self.detail} [{', '.join(hit)}]"


@dataclass(frozen=True)
class Identity:
    """Which model the files describe, and the names its files are built from."""

    model_id: str
    name: str
    stem: str
    library: str
    family: str


@dataclass(frozen=True)
class Input:
    """The network's input tensor (vamc `frontend.shape` / `model.inputs`)."""

    name: str
    name_from: str  # "given", "onnx" or "convention"
    shape: tuple[int, int, int, int]
    channels: int
    height: int
    width: int


@dataclass(frozen=True)
class Resize:
    """The resize before the crop: its size, and how the source and VDSP interpolate."""

    height: int
    width: int
    interpolation: str  # what the source uses
    type: str  # what VDSP uses, as the build_in vdsp_params (and `zoo eval --preprocess deploy`) say it
    short_edge: int  # the shorter side, the legacy dialects' `short_edge_threshold`


@dataclass(frozen=True)
class Crop:
    """The crop that follows the resize."""

    enabled: bool  # the resize is larger than the input, so a crop follows it
    x: int
    y: int
    mode: str  # the manifest's crop_mode
    size: int  # the one square size the legacy dialects crop (`crop_size`)


@dataclass(frozen=True)
class Normalise:
    """Mean/std as the source states them (RGB order), for the calibration pipelines, and as VDSP applies them.

    VDSP computes in float16 and normalises after converting the colour, so `*_fp16` and
    `*_bits` are float16 values and bit patterns in the network's channel order. The current
    vamc calibration pipeline converts the colour before it normalises too (its `CvtColor`
    op), so `calib_mean`/`calib_std` are in the network's order; the legacy one has no
    conversion and keeps `mean`/`std`.
    """

    value_range: str
    div255: bool
    mean: Triple
    std: Triple
    calib_mean: Triple
    calib_std: Triple
    mean_fp16: Triple
    std_fp16: Triple
    mean_bits: Bits
    std_bits: Bits
    norm_type: str


@dataclass(frozen=True)
class Colour:
    """The colour order the network expects, the images the engine receives, and the conversions."""

    color: str  # the network's channel order
    image_color: str  # the channel order of the images the runtime hands VDSP
    cvt_code: str  # VDSP's conversion from the one to the other
    image_format: str
    calib_cvt_code: str | None  # the current vamc calibration pipeline's `CvtColor` code, if it needs one


@dataclass(frozen=True)
class Quantize:
    """How vamc compiles: the dtype, the compile options and, for int8, the calibration."""

    dtype: str
    enabled: bool
    calibrate_mode: str  # "none" without calibration
    per_channel: bool
    calib_dir: str
    calib_count: int  # as the current build YAML writes it (the legacy one: `Legacy.calib_count`)
    sampler_suffix: str
    data_transport_mode: int | None  # None: not written
    dense_special_config: tuple[int, ...] | None  # None: not written


@dataclass(frozen=True)
class Graph:
    """What vamc reads the network from, the op it appends, and the VDSP op feeding the network."""

    frontend: str  # "onnx", or "pytorch" for a TorchScript checkpoint
    extra_ops: str | None
    op_type: str


@dataclass(frozen=True)
class Legacy:
    """What the legacy dialects write their own way: the sdk1.0 integer codes, the vamp enum
    names and the legacy build YAML's calibration count.

    None: the dialect has no known form for the model's setting; rendering it is a `RenderError`.
    """

    op_type: int
    crop: bool  # op 300 (shorter side + crop); else op 301 (resize to the input size)
    image_format: int
    resize_type: int | None
    color_cvt_code: int | None
    color_space: int
    norm_type: int | None
    vamp_resize_type: str | None
    vamp_color_cvt_code: str | None
    vamp_norm_type: str | None
    calib_count: int


@dataclass(frozen=True)
class Paths:
    """Where things are, relative to the model's output folder (run vamc and vamp from there)."""

    checkpoint: str
    workspace: str
    compiled_folder: str
    compiled_model: str  # the compiled model's path without suffix, as `vamp -m` takes it
    model_lib: str
    model_graph: str
    model_params: str
    hw_config_file: str


@dataclass(frozen=True)
class DeployContext:
    """Everything the deploy templates print, one record per concern."""

    identity: Identity
    input: Input
    resize: Resize
    crop: Crop
    normalise: Normalise
    colour: Colour
    quantize: Quantize
    graph: Graph
    legacy: Legacy
    paths: Paths
    approximations: tuple[Approximation, ...]
    notes: tuple[str, ...]

    def approximations_for(self, dialects: Iterable[Dialect]) -> list[str]:
        """The approximations that affect any of `dialects`, as lines for people."""
        rendered = list(dialects)
        lines = (a.describe(rendered) for a in self.approximations)
        return [line for line in lines if line]
