"""The contract every pipeline step follows.

A step is pure: given a model, the files its input steps produced and the run options, it
writes files into a fresh work folder and returns their paths plus small JSON metrics.
It never returns framework objects, so an executor may run it in another process (or on
another machine against a shared store). Its cache key is derived from `kind`, `version`,
`fields(model)`, the digests of its inputs and the versions of `tools`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from zoo.manifest import Model


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


@dataclass
class StepResult:
    """What a step produced: named output files, JSON-able metrics and warnings for people."""

    outputs: dict[str, Path] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class Step:
    """Base class: subclasses set the class attributes and implement `fields` and `run`."""

    kind: ClassVar[str]
    #: Bump when the step's behaviour changes, so cached results are recomputed.
    version: ClassVar[int] = 1
    #: Run in a worker process (imports torch/paddle/onnxsim, may crash or blow memory).
    heavy: ClassVar[bool] = False
    #: Kinds of the steps whose outputs this one reads.
    needs: ClassVar[tuple[str, ...]] = ()
    #: Distribution names whose installed versions enter the cache key.
    tools: ClassVar[tuple[str, ...]] = ()

    def applies(self, model: Model, options: RunOptions) -> bool:
        """Whether this step is part of the model's plan (e.g. no fetch with random weights)."""
        return True

    def fields(self, model: Model, options: RunOptions) -> dict[str, Any]:
        """The manifest fields and options this step reads; they enter the cache key."""
        raise NotImplementedError

    def run(self, model: Model, inputs: dict[str, Path], workdir: Path, options: RunOptions) -> StepResult:
        """Do the work, writing only inside `workdir`; raise a `zoo.errors.StepError` on failure."""
        raise NotImplementedError
