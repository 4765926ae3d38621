"""The manifest schema: what a model family file may say, and what it must not get wrong.

Every class is frozen and forbids unknown keys, so a misspelt field is an error, not a
silently ignored default. Numbers that are *reported* (accuracy, FLOPs, params, latency)
are kept as `Decimal` exactly as written, so that generated tables reproduce the source
documents digit for digit (``0.5720`` stays ``0.5720``).

Conventions (stated once, used everywhere):
- accuracy is compared, listed and plotted in **percent**: each accuracy block must say the
  unit it is written in (``unit: fraction`` for ``0.8203``, ``unit: percent`` for ``80.062``);
  the digits are kept as written (so pages can reproduce the source) and `Accuracy.percent`
  is the one conversion everything else reads;
- FLOPs in GFLOPs (``flops_g``), parameters in millions (``params_m``), latency in milliseconds;
- ``mean``/``std`` are on the scale named by ``value_range`` (``0..1`` or ``0..255``);
- ``input_size`` is ``[C, H, W]``; a bare integer ``S`` means ``[3, S, S]``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from zoo import names
from zoo.urls import url_problem


class LibraryFacts(Protocol):
    """What a manifest needs to know about a source library: which weights it loads, what its
    exports default to, which fields apply. `zoo.sources` provides these (one object per library)."""

    @property
    def name(self) -> str: ...
    @property
    def weight_formats(self) -> frozenset[str]: ...
    @property
    def default_opset(self) -> int: ...
    @property
    def builds_architecture(self) -> bool: ...
    @property
    def needs_entrypoint(self) -> bool: ...
    @property
    def config_files(self) -> bool: ...
    @property
    def frontends(self) -> frozenset[str]: ...

    def check(self, model: Model) -> list[str]:
        """Library-specific problems of a model (an empty list when it is fine)."""
        ...


class Libraries(Protocol):
    """The known source libraries, by name."""

    def names(self) -> list[str]: ...

    def get(self, name: str) -> LibraryFacts: ...


class _Unwired:
    """Stands in until the source registry announces itself (`zoo` does so when imported)."""

    _WHY = "no source libraries: import zoo.sources.registry before validating manifests"

    def names(self) -> list[str]:
        raise RuntimeError(self._WHY)

    def get(self, name: str) -> LibraryFacts:
        raise RuntimeError(self._WHY)


#: The libraries manifests are validated against. The schema knows them only through this
#: interface, so that `zoo.sources` (above the manifest layer) can depend on the schema, not the reverse.
registry: Libraries = _Unwired()


def use_libraries(libraries: Libraries) -> None:
    """Validate manifests against `libraries` from now on (called by `zoo.sources.registry`)."""
    global registry
    registry = libraries


class Strict(BaseModel):
    """Base for every manifest block: immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False, allow_inf_nan=False)


class Task(StrEnum):
    classification = "classification"


class Interpolation(StrEnum):
    nearest = "nearest"
    bilinear = "bilinear"
    bicubic = "bicubic"
    lanczos = "lanczos"


class CropMode(StrEnum):
    """timm's crop modes: resize the shorter side then crop, resize both sides, or pad."""

    center = "center"  # type: ignore[assignment]  # shadows str.center, harmlessly
    squash = "squash"
    border = "border"


class ResizeBackend(StrEnum):
    """The image library the source resizes with; their bilinear filters differ when downscaling."""

    pil = "pil"
    cv2 = "cv2"


class Color(StrEnum):
    RGB = "RGB"
    BGR = "BGR"


class ValueRange(StrEnum):
    unit = "0..1"
    byte = "0..255"


class AccuracyUnit(StrEnum):
    percent = "percent"
    fraction = "fraction"


class FlopsConvention(StrEnum):
    """What a source's published FLOPs count: multiply-accumulates, twice that, or not stated."""

    macs = "macs"
    two_macs = "2macs"
    unknown = "unknown"


class Precision(StrEnum):
    FP32 = "FP32"
    FP16 = "FP16"
    INT8 = "INT8"


class Dtype(StrEnum):
    int8 = "int8"
    fp16 = "fp16"


class CalibrateMode(StrEnum):
    percentile = "percentile"
    kl_divergence = "kl_divergence"
    max = "max"
    mse = "mse"


class ResizeType(StrEnum):
    """The VDSP resize filter: `auto` picks, per file kind, the most faithful one it can write."""

    auto = "auto"
    BILINEAR_CV = "BILINEAR_CV"
    BILINEAR_PILLOW = "BILINEAR_PILLOW"


class Frontend(StrEnum):
    """What vamc compiles: the ONNX graph, or a TorchScript file of the same torch module."""

    onnx = "onnx"
    pytorch = "pytorch"


_HASH_PREFIX = re.compile(r"[0-9a-f]{6,64}")
_ENTRYPOINT = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
_SUFFIX = re.compile(r"[A-Za-z][A-Za-z0-9]*")
#: Largest height or width of `input_size`; a larger one is a typo that would ask for gigabytes.
MAX_INPUT_SIDE = 8192
#: `source.config` naming the library's standard eval transform rather than a file.
STANDARD_CONFIG = "standard"
#: The manifest fields `zoo check` compares with the source library's own config; a
#: `deviations` entry names one of them.
CHECKED_FIELDS = (
    "input_size", "num_classes", "preprocess.crop_pct", "preprocess.resize", "preprocess.crop_mode",
    "preprocess.interpolation", "preprocess.resize_backend", "preprocess.mean", "preprocess.std",
    "preprocess.value_range", "preprocess.color", "weights.url", "weights.hash_prefix", "expected.top1",
    "expected.top5", "reported.flops_g", "reported.params_m",
)


def _one_of(value: str, allowed: list[str]) -> str:
    """`value` if it is in `allowed`; else the error an enum gives, so it reads (and is hinted) alike."""
    if value in allowed:
        return value
    quoted = [repr(a) for a in allowed]
    expected = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    raise PydanticCustomError("enum", "Input should be {expected}", {"expected": expected})


def weight_formats() -> list[str]:
    """Every weights format some registered source library loads, sorted."""
    return sorted({f for name in registry.names() for f in registry.get(name).weight_formats})


def _url(value: str) -> str:
    problem = url_problem(value)
    if problem:
        raise ValueError(f"URL {value!r} {problem}")
    return value


def _number(value: Any) -> Any:
    """Refuse text and booleans where a number belongs: `crop_pct: "0.9"` is a mistake, not 0.9."""
    if isinstance(value, (str, bytes, bool)):
        raise PydanticCustomError("number_type", "must be a number, not {kind} {value!r}",
                                  {"kind": type(value).__name__, "value": value})
    return value


Url = Annotated[str, AfterValidator(_url)]
# Bounds go inside the Annotated, before the check, so that the JSON Schema still states them.
Int = Annotated[int, BeforeValidator(_number)]
Float = Annotated[float, BeforeValidator(_number)]
Dec = Annotated[Decimal, BeforeValidator(_number)]
Positive = Annotated[Decimal, Field(gt=0), BeforeValidator(_number)]
PositiveInt = Annotated[int, Field(gt=0), BeforeValidator(_number)]
PositiveFloat = Annotated[float, Field(gt=0), BeforeValidator(_number)]
Fraction = Annotated[float, Field(gt=0, le=1), BeforeValidator(_number)]


class Paper(Strict):
    title: str
    url: Url


class Source(Strict):
    """Where the architecture and its code come from."""

    library: str = Field(description="The source library, by its registered name (`zoo schema` lists them).")
    arch: str | None = Field(
        None,
        description="Architecture or config name in the library (timm/torchvision model name, "
        "mmpretrain model name, PaddleClas class name). Defaults to the model name.",
    )
    version: str | None = Field(None, description="Library version the numbers refer to, e.g. 0.6.5.")
    repo: Url | None = Field(None, description="Link to the source code (shown in docs).")
    entrypoint: str | None = Field(
        None, description="For a library that builds models from user code (python): `module:function`."
    )
    config: str | None = Field(
        None,
        description="The model's eval config file, for a library whose package does not ship its configs: "
        "a path (relative to the manifest), an http(s) or file URL, or `standard` for the library's standard "
        "eval transform. `zoo check` compares the manifest with it.",
    )

    @field_validator("library")
    @classmethod
    def _registered(cls, value: str) -> str:
        return _one_of(value, registry.names())

    @field_validator("entrypoint")
    @classmethod
    def _entrypoint_form(cls, value: str | None) -> str | None:
        if value is not None and not _ENTRYPOINT.fullmatch(value):
            raise ValueError(f"entrypoint {value!r} must look like `package.module:function`")
        return value

    @field_validator("config")
    @classmethod
    def _config_form(cls, value: str | None) -> str | None:
        if value is not None and value != STANDARD_CONFIG and not value.endswith((".yaml", ".yml")):
            raise ValueError(f"config {value!r} must name a .yaml file (path or URL) or be `{STANDARD_CONFIG}`")
        if value is not None and "://" in value:
            _url(value)
        return value

    @model_validator(mode="after")
    def _config_where_read(self) -> Source:
        if self.config is not None and not registry.get(self.library).config_files:
            users = [f"`{n}`" for n in registry.names() if registry.get(n).config_files]
            raise ValueError(f"`config` is only read for library {' or '.join(users)}; "
                             f"{self.library} reads its configs from its package")
        return self

    @model_validator(mode="after")
    def _entrypoint_where_needed(self) -> Source:
        if registry.get(self.library).needs_entrypoint:
            if not self.entrypoint:
                raise ValueError(f"library `{self.library}` needs `entrypoint: module:function`")
        elif self.entrypoint:
            users = [f"`{n}`" for n in registry.names() if registry.get(n).needs_entrypoint]
            raise ValueError(f"`entrypoint` is only used with library {' or '.join(users)}")
        return self


class Weights(Strict):
    """The checkpoint to fetch. `sha256` stays empty until `zoo lock` pins it; never guess it."""

    url: Url
    format: str = Field(
        description="How the file is stored (pth, pdparams, onnx, ...); the source library must load it."
    )
    sha256: str | None = Field(None, description="64 lowercase hex digits, set by `zoo lock`.")
    hash_prefix: str | None = Field(
        None, description="Leading hex digits of the sha256 that the file name carries (torch hub style)."
    )
    size: PositiveInt | None = Field(None, description="Size in bytes.")
    mirrors: tuple[Url, ...] = ()

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        return _one_of(value, weight_formats())

    @field_validator("sha256")
    @classmethod
    def _sha256_form(cls, value: str | None) -> str | None:
        if value is not None and not names.is_sha256(value):
            raise ValueError("sha256 must be 64 lowercase hex digits")
        return value

    @field_validator("hash_prefix")
    @classmethod
    def _prefix_form(cls, value: str | None) -> str | None:
        if value is not None and not _HASH_PREFIX.fullmatch(value):
            raise ValueError("hash_prefix must be 6 to 64 lowercase hex digits")
        return value

    @model_validator(mode="after")
    def _prefix_agrees(self) -> Weights:
        if self.sha256 and self.hash_prefix and not self.sha256.startswith(self.hash_prefix):
            raise ValueError(
                f"sha256 {self.sha256[:12]}… does not start with hash_prefix {self.hash_prefix}"
            )
        return self

    @field_validator("url")
    @classmethod
    def _names_a_file(cls, value: str) -> str:
        name = names.url_file_name(value)
        problem = names.file_name_problem(name)
        if problem:
            raise ValueError(f"the file name {name!r} of URL {value!r} (decoded) {problem}; "
                             "zoo saves the download under this name")
        return value

    @property
    def filename(self) -> str:
        """The URL's last path segment, decoded: the name the download is saved under (checked when loaded)."""
        return names.url_file_name(self.url)


class Preprocess(Strict):
    """How the source library feeds the network at evaluation time."""

    crop_pct: Fraction | None = Field(
        None, description="timm convention: resize to floor(S / crop_pct), then crop S."
    )
    resize: Annotated[int, Field(gt=0, le=4 * MAX_INPUT_SIDE), BeforeValidator(_number)] | None = Field(
        None, description="The resize size the source states (PaddleClas `resize_short`)."
    )
    crop_mode: CropMode = CropMode.center
    interpolation: Interpolation = Interpolation.bilinear
    resize_backend: ResizeBackend = Field(
        ResizeBackend.pil, description="pil (torchvision, timm, mmcls `pillow`) or cv2 (PaddleClas default)."
    )
    mean: tuple[Float, Float, Float]
    std: tuple[Float, Float, Float]
    color: Color = Color.RGB
    value_range: ValueRange = ValueRange.unit

    @field_validator("mean", "std", mode="before")
    @classmethod
    def _three_values(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)) and len(value) != 3:
            raise ValueError(f"needs exactly 3 values (one per channel), got {len(value)}")
        return value

    @field_validator("std")
    @classmethod
    def _std_positive(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(v <= 0 for v in value):
            raise ValueError("every std value must be > 0")
        return value

    @model_validator(mode="after")
    def _one_resize_rule(self) -> Preprocess:
        if self.crop_pct is None and self.resize is None:
            raise ValueError("give either `crop_pct` or `resize` (the size before cropping)")
        if self.crop_pct is not None and self.resize is not None:
            raise ValueError("give `crop_pct` or `resize`, not both: they can disagree")
        limit = 255.0 if self.value_range == ValueRange.byte else 1.0
        if any(not 0 <= v <= limit for v in self.mean):
            hint = " (use value_range: 0..255 for statistics on the 0..255 scale)" if limit == 1 else ""
            raise ValueError(f"mean values must lie in 0..{limit:g}{hint}")
        return self


class Accuracy(Strict):
    """Top-1/top-5 on the evaluation set, as written in `unit`; read `percent()` to compare."""

    top1: Dec | None = None
    top5: Dec | None = None
    unit: AccuracyUnit
    source: str | None = Field(None, description="Where the numbers come from (URL or document).")

    @model_validator(mode="after")
    def _values_fit_unit(self) -> Accuracy:
        scale = 100 if self.unit == AccuracyUnit.fraction else 1
        for name in ("top1", "top5"):
            value = getattr(self, name)
            if value is None:
                continue
            if self.unit == AccuracyUnit.fraction and value > 1:
                raise ValueError(f"{name} = {value} is not a fraction; did you mean `unit: percent`?")
            if self.unit == AccuracyUnit.percent and value <= 1:
                raise ValueError(f"{name} = {value} looks like a fraction; did you mean `unit: fraction`?")
            if not 0 <= value * scale <= 100:
                raise ValueError(f"{name} must lie between 0 and 100 percent")
        if self.top1 is not None and self.top5 is not None and self.top5 < self.top1:
            raise ValueError(f"top5 ({self.top5}) cannot be below top1 ({self.top1})")
        return self

    def percent(self, name: Literal["top1", "top5"]) -> Decimal | None:
        """The value in percent, keeping the digits it was written with."""
        value: Decimal | None = getattr(self, name)
        if value is None or self.unit == AccuracyUnit.percent:
            return value
        return value.scaleb(2)


class LatencyTable(Strict):
    """One row of a reported latency table: a device, a precision, milliseconds per batch."""

    device: str = Field(description="e.g. V100, T4")
    precision: Precision
    batch_ms: dict[Int, Positive | None] = Field(
        description="Batch size -> milliseconds; null where the source shows '-'."
    )
    size: PositiveInt | None = Field(None, description="Input size measured at, if not input_size.")
    note: str | None = Field(None, description="The source's remark (engine, precision), verbatim.")
    source: str | None = None


class DeployedAccuracy(Strict):
    """Top-1/top-5 in percent of a compiled model on the device, as upstream reports it."""

    top1: Decimal = Field(ge=0, le=100)
    top5: Decimal | None = Field(None, ge=0, le=100)
    source: str | None = Field(None, description="Where the numbers come from (URL or document).")

    @model_validator(mode="after")
    def _top5_not_below_top1(self) -> DeployedAccuracy:
        if self.top5 is not None and self.top5 < self.top1:
            raise ValueError(f"top5 ({self.top5}) cannot be below top1 ({self.top1})")
        return self


class Reported(Strict):
    """Numbers reported upstream (not measured by zoo)."""

    flops_g: Positive | None = None
    flops_convention: FlopsConvention = Field(
        FlopsConvention.unknown,
        description="What `flops_g` counts at its source: `macs` (multiply-accumulates, as PaddleClas and mmcls "
                    "tables), `2macs` (two operations per multiply-accumulate, as VastModelZOO tables), `unknown`.",
    )
    params_m: Positive | None = None
    source: str | None = None
    latency: tuple[LatencyTable, ...] = ()
    deployed: dict[Dtype, DeployedAccuracy] = Field(
        default_factory=dict, description="Accuracy in percent per deployed dtype, e.g. {int8: {top1: 78.842, top5: 94.325}}."
    )
    notes: tuple[str, ...] = Field((), description="Discrepancies or remarks worth showing readers.")


class ExtraOp(StrEnum):
    softmax = "softmax"


class CompileOptions(Strict):
    """Options of the vamc `backend.compile` block beyond `cluster_mode`; absent ones are not written."""

    data_transport_mode: Annotated[int, Field(ge=0), BeforeValidator(_number)] | None = Field(None, description="e.g. 1, as some published builds set it.")
    dense_special_config: tuple[PositiveInt, ...] | None = Field(
        None, min_length=1, description="e.g. [1, 4096, 4096]; written in the compile and quantize blocks."
    )


class Deploy(Strict):
    """How the VastAI toolchain should compile the model (docs/formats.md says what each file makes of it)."""

    dtype: Dtype = Dtype.int8
    calibrate_mode: CalibrateMode = CalibrateMode.percentile
    per_channel: bool = True
    extra_ops: ExtraOp | None = None
    opset: Annotated[int, Field(ge=7, le=21), BeforeValidator(_number)] | None = Field(None, description="Default: 11 for PyTorch, 10 for paddle2onnx.")
    dynamic_batch: bool = False
    calib_count: PositiveInt | None = Field(
        None, description="Calibration images; default: the profile's (build_in 50, sdk1 1000)."
    )
    sampler_suffix: str = Field(
        "JPEG", description="File suffix of the calibration images (ImageNet's are .JPEG), without the dot."
    )
    resize_type: ResizeType = Field(
        ResizeType.auto, description="VDSP resize filter; auto: the most faithful each file can say."
    )
    image_color: Color = Field(
        Color.RGB, description="Channel order of the images the runtime hands the VDSP engine (RGB_PLANAR layout)."
    )
    compile: CompileOptions = CompileOptions()
    frontend: Frontend = Field(
        Frontend.onnx, description="What vamc compiles: onnx, or pytorch (a TorchScript file; torch libraries)."
    )

    @field_validator("sampler_suffix")
    @classmethod
    def _suffix_form(cls, value: str) -> str:
        if not _SUFFIX.fullmatch(value) or yaml.safe_load(value) != value:  # `on`, `no`: YAML reads a boolean
            raise ValueError(
                f"sampler_suffix {value!r} must be a letter then letters and digits, without the dot (e.g. JPEG), "
                "and not a word YAML reads as a boolean"
            )
        return value


class UpstreamVerdict(StrEnum):
    """Who is right where an upstream deployment file and zoo's rendering of the model differ."""

    zoo_right = "zoo right"  # zoo's value follows from the source library; the upstream file is off
    upstream_right = "upstream right"  # upstream's value is a deployment choice the manifest adopts
    format = "format"  # type: ignore[assignment]  # the same value, written differently (shadows str.format)


JsonValue = str | int | float | bool | list[Any] | None


class UpstreamField(Strict):
    """One field on which an upstream file and zoo's rendering differ (or differed before adoption)."""

    file: str = Field(description="The upstream file, relative to its family folder.")
    field: str = Field(description="The dotted field in that file, or `deploy.<setting>` for a build setting.")
    verdict: UpstreamVerdict
    upstream: JsonValue = Field(description="The value in the upstream file.")
    zoo: JsonValue = Field(None, description="What zoo writes (for `upstream right`: what it would write by default).")
    why: str | None = None


class Upstream(Strict):
    """The hand-kept deployment files a model was migrated from (`zoo import vmz`), and how they differ."""

    source: Url | None = Field(None, description="The upstream family folder.")
    files: tuple[str, ...] = ()
    fields: tuple[UpstreamField, ...] = ()


#: Validation thresholds that need no written reason.
DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-3


class Validate(Strict):
    """Parity thresholds between ONNX Runtime and the source framework."""

    atol: PositiveFloat = Field(DEFAULT_ATOL, description="Max abs error on logits.")
    rtol: PositiveFloat = Field(DEFAULT_RTOL, description="Max error relative to the logit range.")
    min_top1_agreement: Fraction = 1.0
    reason: str | None = Field(None, description="Required when any threshold is relaxed.")

    @model_validator(mode="after")
    def _relaxing_needs_reason(self) -> Validate:
        relaxed = (
            self.atol > DEFAULT_ATOL or self.rtol > DEFAULT_RTOL or self.min_top1_agreement < 1.0
        )
        if relaxed and not (self.reason and self.reason.strip()):
            raise ValueError("relaxed thresholds need a written `reason`")
        return self


class Model(Strict):
    """One deployable model: a resolved entry of a family, defaults already merged in."""

    name: str
    family: str = Field(description="Set from the family file.")
    title: str | None = Field(None, description="Display name if different from `name`.")
    source: Source
    weights: Weights | None = Field(None, description="Absent only for models built with random weights.")
    input_size: tuple[Int, Int, Int]
    preprocess: Preprocess
    num_classes: Annotated[int, Field(gt=0, le=1_000_000), BeforeValidator(_number)] = 1000
    dataset: str = "ImageNet-1k"
    expected: Accuracy | None = None
    reference: Accuracy | None = Field(None, description="Paper/reference accuracy (the seeds' 'Reference' columns).")
    reported: Reported = Reported()
    deploy: Deploy = Deploy()
    validate_: Validate = Field(Validate(), alias="validate")
    deviations: dict[str, str] = Field(
        default_factory=dict,
        description="Fields that knowingly differ from the source library's own config (`zoo check`), "
        "each with the written reason; shown in the docs.",
    )
    upstream: Upstream | None = Field(
        None, description="Where a migrated model's upstream files differ from zoo's rendering (`zoo import vmz`)."
    )
    license: str | None = None
    tags: tuple[str, ...] = ()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)

    @field_validator("name")
    @classmethod
    def _name_form(cls, value: str) -> str:
        problem = names.model_name_problem(value)
        if problem:
            raise ValueError(f"name {problem}")
        return value

    @field_validator("input_size", mode="before")
    @classmethod
    def _square_shorthand(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return (3, value, value)
        if isinstance(value, (list, tuple)) and len(value) == 2:
            return (3, *value)
        return value

    @field_validator("input_size")
    @classmethod
    def _positive_size(cls, value: tuple[int, int, int]) -> tuple[int, int, int]:
        if value[0] not in (1, 3):
            raise ValueError("channels must be 1 or 3")
        if not all(0 < side <= MAX_INPUT_SIDE for side in value[1:]):
            raise ValueError(f"height and width must lie in 1..{MAX_INPUT_SIDE}")
        return value

    @field_validator("deviations")
    @classmethod
    def _deviations_explained(cls, value: dict[str, str]) -> dict[str, str]:
        for name, reason in value.items():
            if name not in CHECKED_FIELDS:
                raise ValueError(f"deviations: `{name}` is not a field `zoo check` compares; "
                                 f"use one of: {', '.join(CHECKED_FIELDS)}")
            if not reason.strip():
                raise ValueError(f"deviations: `{name}` needs a written reason")
        return value

    @model_validator(mode="before")
    @classmethod
    def _arch_defaults_to_name(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        source = data.get("source")
        if not isinstance(source, dict) or "arch" in source or source.get("library") not in registry.names():
            return data
        library = registry.get(source["library"])
        if library.builds_architecture and not library.needs_entrypoint:  # else there is no architecture name
            data = {**data, "source": {**source, "arch": data.get("name")}}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Model:
        library = registry.get(self.source.library)
        if self.weights and self.weights.format not in library.weight_formats:
            allowed = ", ".join(sorted(library.weight_formats))
            raise ValueError(
                f"weights format `{self.weights.format}` cannot be loaded by {library.name}; use one of: {allowed}"
            )
        if not library.builds_architecture and self.weights is None:
            raise ValueError(f"library `{library.name}` needs `weights` (the model file to use)")
        if self.deploy.frontend.value not in library.frontends:
            able = [n for n in registry.names() if self.deploy.frontend.value in registry.get(n).frontends]
            raise ValueError(
                f"deploy.frontend `{self.deploy.frontend.value}` needs one of the libraries {', '.join(able)}; "
                f"library `{library.name}` exports ONNX only (use `frontend: onnx`)"
            )
        problems = library.check(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def id(self) -> str:
        """`{source}/{name}`, the id users type."""
        return f"{self.source.library}/{self.name}"

    @property
    def stem(self) -> str:
        """`{source}-{name}`, the file stem upstream uses."""
        return f"{self.source.library}-{self.name}"

    @property
    def opset(self) -> int:
        """`deploy.opset`, else the default of the source library's export recipe."""
        return self.deploy.opset or registry.get(self.source.library).default_opset

    @property
    def display_name(self) -> str:
        return self.title or self.name


class Family(Strict):
    """The top level of a manifest file. `models` are validated after `defaults` merge in."""

    family: str = Field(description="Slug used in file names and `--family`.")
    title: str
    description: str = ""
    paper: Paper | None = None
    task: Task = Task.classification
    dataset: str = "ImageNet-1k"
    defaults: dict[str, Any] = Field(default_factory=dict)
    models: list[Any] = Field(min_length=1, description="Model entries, merged over `defaults`.")

    @field_validator("family")
    @classmethod
    def _slug(cls, value: str) -> str:
        problem = names.family_problem(value)
        if problem:
            raise ValueError(f"family {problem}")
        return value


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge `override` into `base` recursively; the override wins, lists are replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def family_json_schema() -> dict[str, Any]:
    """JSON Schema of a manifest file, for editors (completion, inline errors; README "Editor support").

    `defaults` deep-merge into every model, so neither a model entry nor `defaults` must be
    complete on its own: both are typed as partial models (nothing required but a model's `name`),
    while unknown keys stay errors everywhere. Checks that need the merged model (one of
    `crop_pct`/`resize`, formats per library) are left to `zoo lint`.
    """
    schema = Family.model_json_schema(by_alias=True)
    model_schema = Model.model_json_schema(by_alias=True)
    definitions = {**schema.pop("$defs", {}), **model_schema.pop("$defs", {})}
    model_schema["properties"].pop("family", None)
    model_schema["properties"]["input_size"] = _INPUT_SIZE_SCHEMA
    definitions["Source"]["properties"]["library"]["enum"] = registry.names()
    definitions["Weights"]["properties"]["format"]["enum"] = weight_formats()
    partial = _without_required({**model_schema, "$defs": definitions})
    definitions = partial.pop("$defs")
    definitions["ModelDefaults"] = partial
    definitions["Model"] = {**partial, "required": ["name"]}
    schema["properties"]["models"] = {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/Model"}}
    schema["properties"]["defaults"] = {"$ref": "#/$defs/ModelDefaults"}
    schema["$defs"] = definitions
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "zoo model family manifest"
    return schema


#: `input_size` as a manifest may write it: `S`, `[H, W]` or `[C, H, W]`.
_INPUT_SIZE_SCHEMA: dict[str, Any] = {
    "title": "Input Size",
    "description": "[C, H, W], [H, W] (3 channels) or S (3 x S x S).",
    "anyOf": [
        {"type": "integer", "minimum": 1},
        {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2, "maxItems": 3},
    ],
}


def _without_required(node: Any) -> Any:
    """A copy of a JSON Schema with every `required` list removed (a partial, mergeable document)."""
    if isinstance(node, dict):
        return {key: _without_required(value) for key, value in node.items() if key != "required"}
    if isinstance(node, list):
        return [_without_required(item) for item in node]
    return node
