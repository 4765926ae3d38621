"""What a source library is to zoo: one `SourceLibrary` subclass per library, and its convert contract.

Everything zoo knows about a library lives on its class, so that adding a library is one
module: the manifest schema, the pipeline steps, the deploy context and the reference
preprocessing ask the registry (`zoo.sources.registry`) and never name a library.

A converter gets a `ConvertRequest` and returns a `ConvertResult`. The request carries the
validation inputs, computed by the convert step (the photograph goes through the reference
preprocessing, which lives above this package), so a converter only runs its framework on
them; it never imports `zoo.measure`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from zoo.errors import ConfigsUnsupported

if TYPE_CHECKING:
    import numpy as np

    from zoo.manifest.schema import Model
    from zoo.sources.config import ConfigQuery, LibraryConfig
    from zoo.sources.transform import SourceRules


@dataclass(frozen=True)
class ValidationInputs:
    """The inputs the source framework and, later, ONNX Runtime are both run on.

    `names[i]` says where `array[i]` ([C, H, W], float32) comes from, e.g. ``photo:chelsea.jpg``
    or ``random:0:1``; the reference file keeps both, so validation can name a failing input.
    """

    names: tuple[str, ...]
    array: np.ndarray


@dataclass(frozen=True)
class ConvertRequest:
    """One conversion: the model, its fetched weights (None: seeded random init), where to write."""

    model: Model
    weights: Path | None
    out: Path
    seed: int
    inputs: ValidationInputs


@dataclass(frozen=True)
class ConvertResult:
    """What a converter produced. `params` is counted the way the source framework counts."""

    onnx: Path
    reference: Path
    input_name: str
    output_name: str
    params: int
    opset: int
    random_weights: bool
    tool_versions: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    #: The TorchScript file of the same module, when `deploy.frontend: pytorch` asks for one.
    torchscript: Path | None = None


class SourceLibrary(ABC):
    """Base class of a source library. Subclasses set the class attributes and `convert`.

    One instance per library is registered by `name` (a built-in module's `LIBRARY`, or a
    plugin's object named by the `zoo.sources` entry-point group or `$ZOO_SOURCES`).
    """

    #: The name manifests write as `source.library`; also the first part of model ids.
    name: ClassVar[str]
    #: The `weights.format` names this library loads (a plugin may bring a new one).
    weight_formats: ClassVar[frozenset[str]]
    #: The ONNX opset of the library's published export recipe, unless `deploy.opset` says otherwise.
    default_opset: ClassVar[int]
    #: The ONNX input name of its exports; the deploy files use it until an ONNX file is read.
    input_name: ClassVar[str]
    #: The arithmetic of the library's eval transform, for the reference preprocessing.
    eval_rules: ClassVar[SourceRules]
    #: False when the weights file *is* the model (an ONNX file): there is nothing to
    #: initialise randomly, so it is fetched even with --random-weights, `weights` are
    #: required, `arch` does not default to the model name, and the input name is the file's.
    builds_architecture: ClassVar[bool] = True
    #: True when the model is built by user code named by `source.entrypoint` (`module:function`).
    needs_entrypoint: ClassVar[bool] = False
    #: Distributions whose installed versions enter the convert step's cache key.
    tools: ClassVar[tuple[str, ...]] = ()
    #: The `deploy.frontend` values it can export for vamc: `onnx` always; `pytorch` (TorchScript)
    #: for libraries that build a torch module.
    frontends: ClassVar[frozenset[str]] = frozenset({"onnx"})
    #: The distribution `source.version` names and whose configs `read_configs` reads.
    package: ClassVar[str | None] = None
    #: zoo's pip extra that installs the library's framework (`zoo install EXTRA`); None: nothing to install.
    extra: ClassVar[str | None] = None
    #: True when the library's eval config is a file the manifest names (`source.config`), because
    #: its package does not ship its configs.
    config_files: ClassVar[bool] = False

    #: The attributes a subclass must set (the registry refuses a library missing one).
    REQUIRED: ClassVar[tuple[str, ...]] = ("name", "weight_formats", "default_opset", "input_name", "eval_rules")

    def tools_for(self, model: Model) -> tuple[str, ...]:
        """The distributions whose versions enter the convert step's key for `model` (default: `tools`)."""
        return self.tools

    def check(self, model: Model) -> list[str]:
        """Problems with `model`'s manifest that only this library knows about (none by default)."""
        return []

    def code_digest(self, model: Model) -> str | None:
        """A digest of user code the conversion runs, so that editing it changes the cache key."""
        return None

    def read_configs(self, query: ConfigQuery) -> dict[str, LibraryConfig]:
        """The library's own config of each architecture `query` names (globs expanded), by name.

        An architecture the library does not know is left out. A library that cannot read its
        configs keeps this default, and `zoo check` says its models cannot be checked.
        """
        raise ConfigsUnsupported(f"library `{self.name}` does not read its own configs, so its models cannot be "
                                 "checked against them (a SourceLibrary implements `read_configs` for that)")

    @abstractmethod
    def convert(self, request: ConvertRequest) -> ConvertResult:
        """Write the ONNX graph to `request.out` and the reference outputs beside it."""

    def __repr__(self) -> str:
        return f"<source library {self.name!r} ({type(self).__module__}.{type(self).__qualname__})>"
