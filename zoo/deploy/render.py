"""Deploy context -> Jinja templates -> checked files, published together, one folder per model.

A profile (`zoo.deploy.profiles`) names the files one deployment needs; each file's dialect
module says where it goes, which template lays it out and what a correct file holds. Layout
of ``{out}/{source}-{name}/`` (file names as upstream names them)::

    {source}_{name}.yaml                 vamc compile, current      (build_in)
    {source}-{name}-vdsp_params.json     vdsp_params, build_in      (build_in)
    model_info_{name}.json               model_info                 (both)
    sdk1.0/{source}_{name}.yaml          vamc build, legacy         (sdk1)
    sdk1.0/{source}-{name}-vdsp_params.json   vdsp_params, sdk1.0  (sdk1)
    vamp/{source}-{name}-vdsp_params.json     vdsp_params, vamp    (sdk1)

Every path written inside the files is relative to the model folder. Each rendered text is
parsed back and compared with its dialect's spec for this context (keys, and every value the
context determines) before anything is written; then all files of the model are published
atomically (temp file + rename), unchanged files are left untouched.

Templates come from a user folder first (``templates_dir`` / ``$ZOO_TEMPLATES``, same
relative paths), then ``zoo/templates/``. They see the groups of `DeployContext` by name
(``identity``, ``input``, ``resize``, ``crop``, ``normalise``, ``colour``, ``quantize``,
``graph``, ``legacy``, ``paths``), plus ``approximations`` (lines for this profile),
``notes`` and ``file`` (the output's path).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import jinja2

from zoo.atomic import write_if_changed
from zoo.deploy.builders import build_context
from zoo.deploy.context import DeployContext
from zoo.deploy.output import PARSE_ERRORS, AnyOf, Output
from zoo.deploy.profiles import DEFAULT_PROFILE, profile_outputs
from zoo.deploy.templating import (
    environment,
    load_template,
    render_template,
    resolve_templates_dir,
)
from zoo.errors import RenderError, ZooError
from zoo.manifest.schema import Model
from zoo.names import component_problem


# --------------------------------------------------------------------------- results
@dataclass
class RenderResult:
    """What rendering one model produced."""

    model_id: str
    profile: str
    folder: Path
    files: list[Path]
    approximations: list[str]
    notes: list[str]
    context: DeployContext

    def metrics(self) -> dict[str, Any]:
        """The render step's metrics as `zoo.pipeline.record` names them."""
        return {
            "approximations": list(self.approximations),
            "files": [f.relative_to(self.folder).as_posix() for f in self.files],
        }


@dataclass
class RenderBatch:
    """Results of `render_all`: one per model that rendered, and an error message per model that did not."""

    results: list[RenderResult] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- rendering
def render_model(
    model: Model,
    *,
    out_dir: Path,
    profile: str = DEFAULT_PROFILE,
    onnx_path: Path | None = None,
    input_name: str | None = None,
    dtype: str | None = None,
    calib_dir: str | None = None,
    templates_dir: Path | None = None,
) -> RenderResult:
    """Render, check and write the profile's files for `model` into `{out_dir}/{model.stem}/`.

    Raises `RenderError` (nothing written) if a template is broken or an output does not
    match its format.
    """
    outputs = profile_outputs(profile)
    env = environment(resolve_templates_dir(templates_dir))
    folder = _output_path(Path(out_dir), model.stem)
    context = build_context(model, input_name=input_name, onnx_path=onnx_path, model_dir=folder,
                            dtype=dtype, calib_dir=calib_dir)
    approximations = context.approximations_for(o.dialect for o in outputs)
    texts = {
        _output_path(folder, output.path_for(context)): _render_checked(env, output, context, approximations)
        for output in outputs
    }
    for parent in {path.parent for path in texts}:
        parent.mkdir(parents=True, exist_ok=True)
    for path, text in texts.items():
        write_if_changed(path, text.encode("utf-8"))
    return RenderResult(model.id, profile, folder, list(texts), approximations, list(context.notes), context)


def render_all(
    models: Iterable[Model],
    *,
    out_dir: Path,
    profile: str = DEFAULT_PROFILE,
    dtype: str | None = None,
    calib_dir: str | None = None,
    templates_dir: Path | None = None,
) -> RenderBatch:
    """Render every model; one model's error is recorded and the others go on."""
    profile_outputs(profile)
    batch = RenderBatch()
    for model in models:
        try:
            batch.results.append(render_model(model, out_dir=out_dir, profile=profile, dtype=dtype,
                                              calib_dir=calib_dir, templates_dir=templates_dir))
        except ZooError as exc:
            batch.failures[model.id] = str(exc)
    return batch


def _output_path(folder: Path, relative: str) -> Path:
    """`folder / relative`, each part a plain name: an output's path is built from model names."""
    for part in relative.split("/"):
        problem = component_problem(part)
        if problem:
            raise RenderError(f"refusing to write {relative!r} into {folder}: the part {part!r} {problem}. "
                              "Fix the output's path rule or the model's name.")
    return folder / relative


def _render_checked(env: jinja2.Environment, output: Output, context: DeployContext, approximations: list[str]) -> str:
    """Render one output, parse it back and compare it with its dialect's spec; return the text."""
    spec = output.spec(context)
    template = load_template(env, output.template)
    variables = {f.name: getattr(context, f.name) for f in fields(context)}
    variables.update(approximations=approximations, notes=list(context.notes), file=output.path_for(context))
    text = render_template(template, variables)
    what = f"{template.filename or output.template}: the rendered {output.dialect.name} for {context.identity.model_id}"
    try:
        parsed = output.parse(text)
    except PARSE_ERRORS as exc:
        raise RenderError(f"{what} does not parse: {_one_line(exc)}") from None
    problems = differences(spec, parsed)
    if output.lists_approximations:
        problems += [f"approximation comment missing: {line}" for line in approximations if line not in text]
    if problems:
        listed = "\n  ".join(problems)
        raise RenderError(f"{what} does not match the format:\n  {listed}")
    return text


def differences(expected: Any, found: Any, path: str = "") -> list[str]:
    """Where `found` (a parsed file) departs from `expected` (a spec): keys, lengths, values, types."""
    where = path or "the document"
    if isinstance(expected, AnyOf):
        ok = isinstance(found, expected.types) and not (bool not in expected.types and isinstance(found, bool))
        return [] if ok else [f"{where}: expected a {expected!r}, found {found!r}"]
    if isinstance(expected, dict):
        if not isinstance(found, dict):
            return [f"{where}: expected a mapping, found {found!r}"]
        problems = [f"{where}: missing key `{k}`" for k in expected if k not in found]
        problems += [f"{where}: unexpected key `{k}`" for k in found if k not in expected]
        for key in expected.keys() & found.keys():
            problems += differences(expected[key], found[key], f"{path}.{key}" if path else str(key))
        return problems
    if isinstance(expected, list):
        if not isinstance(found, list) or len(found) != len(expected):
            return [f"{where}: expected {expected!r}, found {found!r}"]
        pairs = enumerate(zip(expected, found, strict=True))
        return [p for i, (e, f) in pairs for p in differences(e, f, f"{path}[{i}]")]
    if type(found) is not type(expected) or found != expected:
        return [f"{where}: expected {expected!r}, found {found!r}"]
    return []


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
