"""The render step: the VastAI deployment files of one model, next to its ONNX file.

`zoo.deploy.render.render_model` does the work; this step picks the ONNX file it describes (the
simplified one when there is one) and the graph's input name found by the convert step.
Paths inside the files are relative to the model's output folder, so the files stay right
wherever `--out` points.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from zoo.manifest.schema import Model
from zoo.pipeline.steps.base import RunOptions, Step, StepInputs, StepResult

#: Manifest fields no deployment file shows: leaving them out keeps the cache warm when
#: only documentation numbers change.
_NOT_RENDERED = {"expected", "reference", "reported", "license", "tags", "validate_", "title", "dataset"}


class RenderStep(Step):
    kind = "render"
    version = 1
    needs = ("convert", "simplify", "validate")
    tools = ("jinja2",)

    def __init__(self) -> None:
        #: Template digests by override folder, computed once per plan (the step is made per plan).
        self._templates: dict[str | None, str] = {}

    def check_options(self, options: RunOptions) -> None:
        from zoo.deploy.builders import check_dtype
        from zoo.deploy.profiles import profile_outputs

        profile_outputs(options.profile)
        check_dtype(options.dtype)

    def fields(self, model: Model, options: RunOptions) -> dict[str, Any]:
        if options.templates_dir not in self._templates:
            self._templates[options.templates_dir] = templates_digest(options.templates_dir)
        return {
            "model": model.model_dump(mode="json", exclude=_NOT_RENDERED),
            "profile": options.profile,
            "dtype": options.dtype,
            "calib_dir": options.calib_dir,
            "templates": self._templates[options.templates_dir],
        }

    def run(self, model: Model, inputs: StepInputs, workdir: Path, options: RunOptions) -> StepResult:
        from zoo.deploy.render import render_model

        staging = workdir / "render"
        onnx = _onnx_file(inputs)
        if onnx is not None:
            # In the model's folder, as it will be in the output folder: the checkpoint path
            # written into the files is then just the ONNX file's name.
            staged = staging / model.stem / onnx.name
            staged.parent.mkdir(parents=True)
            os.link(onnx, staged)
            onnx = staged
        result = render_model(
            model,
            out_dir=staging,
            profile=options.profile,
            onnx_path=onnx,
            input_name=inputs.metrics.get("convert", {}).get("input_name"),
            dtype=options.dtype,
            calib_dir=options.calib_dir,
            templates_dir=Path(options.templates_dir) if options.templates_dir else None,
        )
        outputs: dict[str, Path] = {}
        for file in result.files:
            relative = file.relative_to(result.folder)
            target = workdir / relative  # its place in the output folder, as the contract says
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(file, target)
            outputs[relative.as_posix()] = target
        return StepResult(outputs=outputs, metrics=result.metrics(), warnings=list(result.notes))


def _onnx_file(inputs: StepInputs) -> Path | None:
    """The simplified ONNX file if the plan has one, else the exported one, else None."""
    for kind in ("simplify", "convert"):
        found = sorted(p for p in inputs.of(kind).values() if p.suffix == ".onnx")
        if found:
            return found[0]
    return None


def templates_digest(user_dir: str | None) -> str:
    """sha256 over the shipped templates and the user's override folder (paths and contents).

    The override folder is `user_dir`, else $ZOO_TEMPLATES, as rendering chooses it.
    """
    from zoo.deploy.templating import BUILTIN_TEMPLATES, resolve_templates_dir

    user = resolve_templates_dir(Path(user_dir) if user_dir else None)
    digest = hashlib.sha256()
    for root in (BUILTIN_TEMPLATES, Path(user) if user else None):
        if root is None:
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
