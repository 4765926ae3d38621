"""What `zoo sync` tells a person after the run, per model: its warnings (once, grouped), the
parity figures of the validate step, where the files went and the next command to run.

Everything comes from the `record.json` files the run published, so the report says what the
record says; `--json` prints the same report as data.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zoo.manifest.schema import Model
from zoo.pipeline.record import Record, read_record
from zoo.pipeline.steps.base import RunOptions
from zoo_cli.console import shown

#: Warning groups, in the order they are printed, and the step kinds whose warnings go there.
GROUPS: dict[str, tuple[str, ...]] = {
    "weights": ("fetch", "convert"),
    "graph": ("simplify",),
    "validation": ("validate",),
    "deploy": ("render",),
}


@dataclass
class ModelReport:
    """One model's lines of the report; `as_dict` is its `--json` form."""

    model: str
    folder: str
    random_weights: bool
    warnings: dict[str, list[str]] = field(default_factory=dict)
    approximations: list[str] = field(default_factory=list)
    parity: dict[str, float] | None = None
    files: list[str] = field(default_factory=list)
    next: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def model_reports(models: Sequence[Model], records: dict[str, Path], options: RunOptions) -> list[ModelReport]:
    """A report per published model, in selection order (models not published have none)."""
    reports = []
    for model in models:
        path = records.get(model.id)
        record = read_record(path.parent) if path is not None else None
        if record is not None:
            reports.append(_report(model, record, path.parent, options))  # type: ignore[union-attr]
    return reports


def _report(model: Model, record: Record, folder: Path, options: RunOptions) -> ModelReport:
    report = ModelReport(model=model.id, folder=shown(folder), random_weights=record.random_weights)
    for group, kinds in GROUPS.items():
        lines = _unique(w for kind in kinds if kind in record.steps for w in record.steps[kind].warnings)
        if lines:
            report.warnings[group] = lines
    report.approximations = _unique(record.metric("render", "approximations", []))
    validate = record.steps.get("validate")
    if validate is not None and validate.status in ("ran", "cached"):
        report.parity = {name: validate.metrics[name] for name in ("max_abs", "cosine", "top1_agreement")
                         if name in validate.metrics}
    report.files = sorted(name for step in record.steps.values() for name in _names(step.outputs)
                          if (folder / name).is_file())  # published outputs, not the inputs (weights)
    report.next = next_commands(model, record, report.folder, options)
    return report


def next_commands(model: Model, record: Record, folder: str, options: RunOptions) -> list[str]:
    """What to run after this sync: compile with vamc from the model's folder, and where the
    files still lack something, the zoo command that supplies it."""
    commands = []
    build = next((n for n in record.metric("render", "files", []) if n.endswith(".yaml")), None)
    if build is not None:
        verb = "build" if build.startswith("sdk1.0/") else "compile"
        commands.append(f"cd {shlex.quote(folder)} && vamc {verb} {shlex.quote(build)}")
    dtype = options.dtype or model.deploy.dtype.value
    if dtype == "int8" and options.calib_dir is None:
        commands.insert(0, "zoo calib --data TRAIN_DIR --out calib/  &&  "
                           f"zoo sync {model.id} --calib-dir calib/   # a real calibration set for int8")
    if record.random_weights:
        commands.append(f"zoo sync {model.id}   # real weights: random ones are for pipeline checks only")
    elif "validate" in record.steps and record.steps["validate"].status in ("ran", "cached"):
        commands.append(f"zoo eval {model.id} --data VAL_DIR   # accuracy against the manifest's expected top-1")
    return commands


def print_reports(reports: Sequence[ModelReport], console: Any) -> None:
    """The human form: a block per model."""
    for report in reports:
        console.print(f"\n[bold]{report.model}[/] -> {report.folder}/"
                      + (" [yellow](random weights)[/]" if report.random_weights else ""))
        for group, lines in report.warnings.items():
            for line in lines:
                console.print(f"  [yellow]{group}:[/] {_escape(line)}")
        for line in report.approximations:
            console.print(f"  [yellow]approximation:[/] {_escape(line)}")
        if report.parity is not None:
            console.print("  parity (ONNX Runtime vs source): " + format_parity(report.parity), markup=False)
        for command in report.next:
            console.print(f"  next: {_escape(command)}")


def format_parity(parity: dict[str, float]) -> str:
    parts = []
    if "max_abs" in parity:
        parts.append(f"max abs error {parity['max_abs']:.2e}")
    if "top1_agreement" in parity:
        parts.append(f"top-1 agreement {100 * parity['top1_agreement']:.1f} %")
    if "cosine" in parity:
        parts.append(f"cosine {parity['cosine']:.6f}")
    return ", ".join(parts)


def _names(outputs: dict[str, Any]) -> list[str]:
    return [o.name for o in outputs.values()]


def _unique(lines: Any) -> list[str]:
    return list(dict.fromkeys(lines))


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
