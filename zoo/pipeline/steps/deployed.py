"""The deployed steps (opt-in, `zoo eval --results`): top-1/top-5 of what the device returned.

One step kind per dtype (`deployed-int8`, `deployed-fp16`), so a model's record holds the
deployed accuracy of each build side by side. Its key covers the result files' identity
(content digests; for a vamp folder the outputs' names, sizes and modification times), the
dtype and the manifest fields the verdict reads; it needs the simplified ONNX and the rendered
deployment files, so the result stays in the record exactly while what was compiled is
unchanged. See `zoo.measure.device` for the formats.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from zoo.manifest.schema import Model
from zoo.pipeline.steps.base import RunOptions, Step, StepInputs, StepResult
from zoo.pipeline.steps.eval import checks_metrics, given

if TYPE_CHECKING:
    from zoo.measure.device import DeviceResults

#: Manifest fields the verdict does not read.
_NOT_READ = {"reported", "reference", "license", "tags", "title", "validate_", "preprocess", "deviations"}


@dataclass(frozen=True)
class DeviceSettings:
    """What `zoo eval --results` was given: the device's results and how to label them."""

    results: str
    dtype: str
    datalist: str | None = None
    labels: str | None = None

    def read(self, model: Model) -> DeviceResults:
        from zoo.measure.device import read_results

        return read_results(Path(self.results), datalist=_path(self.datalist), labels=_path(self.labels),
                            num_classes=model.num_classes)

    def identity(self) -> dict[str, str | None]:
        """Digests of what was read: the result file or output folder, the datalist, the label file."""
        results = Path(self.results)
        return {
            "results": _folder_digest(results) if results.is_dir() else _file_digest(results, "result file"),
            "datalist": _file_digest(Path(self.datalist), "datalist") if self.datalist else None,
            "labels": _file_digest(Path(self.labels), "label file") if self.labels else None,
        }


def _file_digest(path: Path, what: str) -> str:
    from zoo.errors import DatasetError
    from zoo.store.blobs import sha256_file

    if not path.is_file():
        raise DatasetError(f"{what} {path} does not exist or is not a file")
    return sha256_file(path)[0]


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _folder_digest(folder: Path) -> str:
    """Names, sizes and modification times of the `.npz` files directly in `folder`."""
    digest = hashlib.sha256()
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.endswith(".npz"):
                stat = entry.stat(follow_symlinks=False)
                digest.update(f"{entry.name}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


class DeployedStep(Step):
    """Base of the per-dtype steps; `deployed_step` picks one."""

    dtype: ClassVar[str]
    version = 1
    opt_in = True
    needs = ("simplify", "render")

    def __init__(self, settings: DeviceSettings | None = None):
        #: None for a step that only carries an earlier result forward (it never runs).
        self.settings = settings

    def fields(self, model: Model, options: RunOptions) -> dict[str, Any]:
        settings = given(self.settings, self.kind)
        return {
            "files": settings.identity(),
            "dtype": self.dtype,
            "model": model.model_dump(mode="json", exclude=_NOT_READ),
            "random_weights": options.random_weights,
        }

    def run(self, model: Model, inputs: StepInputs, workdir: Path, options: RunOptions) -> StepResult:
        return score_device(model, given(self.settings, self.kind), random_weights=options.random_weights)


class DeployedInt8Step(DeployedStep):
    kind = "deployed-int8"
    dtype = "int8"


class DeployedFp16Step(DeployedStep):
    kind = "deployed-fp16"
    dtype = "fp16"


def deployed_step(settings: DeviceSettings) -> DeployedStep:
    """The step that records `settings.dtype` results."""
    kinds = {step.dtype: step for step in (DeployedInt8Step, DeployedFp16Step)}
    return kinds[settings.dtype](settings)


def score_device(model: Model, settings: DeviceSettings, *, random_weights: bool) -> StepResult:
    """Score the device's results; metrics as `zoo.pipeline.record` documents them for `deployed-*`."""
    from zoo.measure.device import QUANTISATION_ALLOWANCE
    from zoo.measure.evaluate import compare

    results = settings.read(model)
    score = results.score()
    allowance = QUANTISATION_ALLOWANCE[settings.dtype]
    judged = compare(model, score, "device", random_weights=random_weights, allowance=allowance)
    metrics = {
        "top1": round(score.top1, 4),
        "top5": round(score.top5, 4),
        "images": score.images,
        "dtype": settings.dtype,
        "format": results.format,
        "results": results.source,
        "allowance": allowance,
        "compared": judged.compared,
        "passed": judged.passed,
        "reason": judged.reason,
        "checks": checks_metrics(judged),
    }
    return StepResult(metrics=metrics)
