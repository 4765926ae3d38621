"""Pipeline steps, one module per step kind (see `zoo.pipeline.steps.base` for the contract).

`PIPELINE` lists the step classes of `zoo sync` in pipeline order, `OPT_IN` those a command
adds (`zoo eval`, `zoo eval --results`, `zoo bench`), as "module:Class" strings, so that importing this package
costs nothing; the functions below import them when a plan is made.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zoo.pipeline.steps.base import Step

PIPELINE: tuple[str, ...] = (
    "zoo.pipeline.steps.fetch:FetchStep",
    "zoo.pipeline.steps.convert:ConvertStep",
    "zoo.pipeline.steps.simplify:SimplifyStep",
    "zoo.pipeline.steps.validate:ValidateStep",
    "zoo.pipeline.steps.render:RenderStep",
)
OPT_IN: tuple[str, ...] = (
    "zoo.pipeline.steps.eval:EvalStep",
    "zoo.pipeline.steps.bench:BenchStep",
    "zoo.pipeline.steps.deployed:DeployedInt8Step",
    "zoo.pipeline.steps.deployed:DeployedFp16Step",
)


def pipeline_steps() -> list[Step]:
    """One instance of every step class of the pipeline, in pipeline order."""
    return _instances(PIPELINE)


def opt_in_steps() -> list[Step]:
    """One instance of every opt-in step class, without a command's settings (they only carry results)."""
    return _instances(OPT_IN)


def _instances(targets: Sequence[str]) -> list[Step]:
    steps = []
    for target in targets:
        module, name = target.split(":")
        steps.append(getattr(importlib.import_module(module), name)())
    return steps
