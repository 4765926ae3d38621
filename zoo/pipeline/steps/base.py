"""The contract every pipeline step follows.

A step is pure: given a model, the files its input steps produced and the run options, it
writes files into a fresh work folder and returns their paths plus small JSON metrics.
It never returns framework objects, so a backend may run it in another process (or on
another machine against a shared store). Its cache key is derived from `kind`, `version`,
`fields(model, options)`, the digests of its inputs and the versions of `tools`.

Step modules must not import a heavy framework at module level: `zoo plan` and a warm
`zoo sync` import every step module but must never pay for torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from zoo.manifest.schema import Model


@dataclass(frozen=True)
class RunOptions:
    """Run-wide settings that can change a step's result (and so enter its cache key when used)."""

    random_weights: bool = False
    seed: int = 0
    weights_from: tuple[str, ...] = ()
    offline: bool = False
    require_pinned: bool = False
    profile: str = "build_in"
    dtype: str | None = None
    calib_dir: str | None = None
    templates_dir: str | None = None
    #: Folder kept across runs where partial downloads wait to be resumed: the downloads area
    #: of the store the step runs against, filled in by `execute_node` wherever it runs. Where
    #: bytes are parked never changes a result, so no step puts it in its fields.
    downloads_dir: str | None = None


@dataclass
class StepResult:
    """What a step produced: named output files, JSON-able metrics and warnings for people."""

    outputs: dict[str, Path] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class StepReport:
    """Where a step tells people about long work; the command running it decides what to show.

    This base class shows nothing (a step run on its own, e.g. in a test, reports to nobody).
    It has the shape of `zoo.store.fetch.download.FetchProgress`, so a download reports here too.
    """

    def start(self, total: int | None, completed: int = 0) -> None:
        """Work of `total` units (None: unknown) begins, `completed` of them already done."""

    def advance(self, amount: int) -> None:
        """`amount` more units are done."""

    def note(self, message: str) -> None:
        """A line for people: a retry, a wait, a summary."""


class StepInputs(dict[str, Path]):
    """The files of the steps this one needs, by output name, plus their metrics by step kind.

    Output names are unique within a model's pipeline (e.g. ``weights`` from fetch). Metrics
    a step reads from upstream must follow from the upstream files, whose digests are in the
    cache key (e.g. the ONNX input name follows from the ONNX file).
    """

    def __init__(
        self,
        files: dict[str, dict[str, Path]] | None = None,
        metrics: dict[str, dict[str, Any]] | None = None,
        report: StepReport | None = None,
    ):
        """`files` maps each needed step kind to its outputs (name -> path); `report` is where
        the step reports progress (nowhere by default)."""
        by_kind = files or {}
        super().__init__({name: path for outputs in by_kind.values() for name, path in outputs.items()})
        self.by_kind: dict[str, dict[str, Path]] = by_kind
        self.metrics: dict[str, dict[str, Any]] = metrics or {}
        self.report = report or StepReport()

    def of(self, kind: str) -> dict[str, Path]:
        """The outputs of the step `kind` (empty if that step is not part of the plan)."""
        return self.by_kind.get(kind, {})


class Step:
    """Base class: subclasses set the class attributes and implement `fields` and `run`."""

    kind: ClassVar[str]
    #: Bump when the step's behaviour changes, so cached results are recomputed.
    version: ClassVar[int] = 1
    #: Run in a worker process (imports torch/paddle/onnxsim, may crash or blow memory).
    heavy: ClassVar[bool] = False
    #: Kinds of the steps whose outputs this one reads (those not in a model's plan are ignored).
    needs: ClassVar[tuple[str, ...]] = ()
    #: Distribution names whose installed versions enter the cache key.
    tools: ClassVar[tuple[str, ...]] = ()
    #: Whether the outputs are materialised into the model's output folder (fetched weights
    #: stay in the store: deployment needs the ONNX file, not the checkpoint).
    publish: ClassVar[bool] = True
    #: Not part of a plain `zoo sync`: a command adds it (eval, bench). Its last result is carried
    #: into later plans while its key (fields + input digests) is still cached.
    opt_in: ClassVar[bool] = False

    def applies(self, model: Model, options: RunOptions) -> bool:
        """Whether this step is part of the model's plan (e.g. no fetch with random weights)."""
        return True

    def tools_for(self, model: Model) -> tuple[str, ...]:
        """The distributions whose versions enter this step's key for `model` (default: `tools`).

        Override when they depend on the model, e.g. on its source library.
        """
        return self.tools

    def check_options(self, options: RunOptions) -> None:
        """Refuse options this step cannot use (a `ZooError` saying which), before any step runs:
        a mistake found at this step's turn would come after work, and after publishing."""

    def fields(self, model: Model, options: RunOptions) -> dict[str, Any]:
        """The manifest fields and options this step reads; they enter the cache key."""
        raise NotImplementedError

    def run(self, model: Model, inputs: StepInputs, workdir: Path, options: RunOptions) -> StepResult:
        """Do the work, writing only inside `workdir`; raise a `zoo.errors.StepError` on failure.

        Output files must lie in `workdir` (`execute_node` moves them into the store); a file's
        path relative to `workdir` is its path in the model's output folder.
        """
        raise NotImplementedError
