"""`zoo eval`, `zoo bench`, `zoo calib`, `zoo npz`: measuring a synced model and preparing data.

`zoo eval` and `zoo bench` run their opt-in step on the model's last sync, through the same
scheduler as `zoo sync` (the synced steps are cache hits); the record is written by the
pipeline's publisher. With `--onnx FILE` they measure that file directly and record nothing.
Long work shows a rich progress bar on a terminal and a plain line every 10 % otherwise (CI logs).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from zoo.errors import SelectionError, StepError
from zoo.manifest.schema import Dtype, Model
from zoo.pipeline.steps.base import StepReport
from zoo_cli.cmd_catalog import catalog_from, complete_ids
from zoo_cli.cmd_sync import EXIT_INTERRUPTED, store_option
from zoo_cli.console import emit_json, err, json_option, out, warning
from zoo_cli.progress import counter

if TYPE_CHECKING:
    from zoo.pipeline.events import Event
    from zoo.pipeline.record import Record
    from zoo.pipeline.steps.base import Step, StepResult

OUT_HELP = "Output folder of `zoo sync` (one sub-folder per model holding record.json)."


def one_model(ctx: click.Context, pattern: str) -> Model:
    models = catalog_from(ctx).select([pattern])
    if len(models) != 1:
        raise SelectionError(f"{pattern!r} matches {len(models)} models ({', '.join(m.id for m in models)}); name one id")
    return models[0]


def _synced(model: Model, out_root: Path, onnx: Path | None) -> tuple[Path, Record | None, Path]:
    """(model folder, its record if any, the ONNX to measure: --onnx, else the synced one, checked)."""
    from zoo.pipeline.record import read_record
    from zoo.store.blobs import sha256_file

    folder = out_root / model.stem
    record = read_record(folder)
    if onnx is not None:
        if not onnx.is_file():
            raise StepError(f"ONNX file {onnx} does not exist")
        return folder, record, onnx
    step = record.steps.get("simplify") if record else None
    files = [f for f in step.outputs.values() if f.name.endswith(".onnx")] if step else []
    if not files:
        raise StepError(
            f"{folder} has no simplified ONNX recorded in record.json; run `zoo sync` first or pass --onnx FILE"
        )
    path = folder / files[0].name
    if not path.is_file():
        raise StepError(f"{path} is named in {folder / 'record.json'} but missing; run `zoo sync` again")
    if sha256_file(path)[0] != files[0].digest:
        raise StepError(f"{path} changed since `zoo sync` recorded it (sha256 differs); run `zoo sync` again "
                        "or pass --onnx FILE to evaluate another file")
    return folder, record, path


class _Counted(StepReport):
    """A measurement run here (--onnx): its progress drives the command's counter."""

    def __init__(self, advance: Callable[[int], None]):
        self._advance = advance

    def advance(self, amount: int) -> None:
        self._advance(amount)

    def note(self, message: str) -> None:
        err.print(message, markup=False, highlight=False)


class _Watch:
    """The events of a measure plan that people see: the opt-in step's progress, and waits."""

    def __init__(self, kind: str, advance: Callable[[int], None]):
        self.kind, self._advance, self._completed = kind, advance, 0

    def __call__(self, event: Event) -> None:
        if event.event == "step_progress" and event.step == self.kind and event.completed is not None:
            self._advance(event.completed - self._completed)
            self._completed = event.completed
        elif event.event in ("run_waiting", "step_waiting", "step_note", "interrupted"):
            err.print(f"{event.step}: {event.message}" if event.step else str(event.message), markup=False)


def _measure(ctx: click.Context, model: Model, record: Record, out_root: Path, step: Step,
             advance: Callable[[int], None]) -> tuple[dict[str, Any], list[str], Path]:
    """Run the opt-in `step` on the model's last sync; (metrics, warnings, record path).

    The store is the command's `--store` (default $ZOO_HOME), as for `zoo sync`.
    """
    from zoo.pipeline.plan import measure_plan
    from zoo.pipeline.scheduler import run_plan
    from zoo.store.local import LocalStore

    store = LocalStore(ctx.params["store_dir"])
    plan = measure_plan(model, record, store, step)
    result = run_plan(plan, store, out_dir=out_root, on_event=_Watch(step.kind, advance))
    if result.interrupted:
        err.print("interrupted: nothing was recorded", markup=False)
        ctx.exit(EXIT_INTERRUPTED)
    outcome = result.outcome(model.id, step.kind)
    if outcome is None or outcome.entry is None:
        if outcome is not None and outcome.detail and ctx.obj["debug"]:
            err.print(outcome.detail, markup=False, highlight=False)
        raise StepError(outcome.error if outcome is not None and outcome.error else f"{step.kind} did not run")
    if model.id in result.publish_errors:
        raise StepError(result.publish_errors[model.id])
    return outcome.entry.metrics, outcome.entry.warnings, result.records[model.id]


@click.command("eval")
@click.argument("model_id", shell_complete=complete_ids)
@click.option("--data", type=click.Path(path_type=Path),
              help="Labelled images: class folders (n01440764/...) or a folder plus val_label.txt.")
@click.option("--results", type=click.Path(path_type=Path),
              help="Score the device instead: a VSX result file, or a `vamp --path_output` folder (with --datalist).")
@click.option("--datalist", type=click.Path(path_type=Path, dir_okay=False),
              help="With --results DIR: the .npz list vamp ran on (`zoo npz` writes it); outputs pair with it by number.")
@click.option("--dtype", type=click.Choice(["int8", "fp16"]),
              help="With --results: the build the device ran (default: the manifest's deploy.dtype).")
@click.option("--labels", type=click.Path(path_type=Path, dir_okay=False),
              help="Label file (`<image> <label>` lines) if not val_label.txt next to the images, or for --results.")
@click.option("--limit", type=click.IntRange(min=1), help="Evaluate this many images, spread over the classes.")
@click.option("--preprocess", "mode", type=click.Choice(["source", "deploy", "both"]), default="source",
              show_default=True, help="The source library's transform, the deployment files' one, or both.")
@click.option("--onnx", type=click.Path(path_type=Path, dir_okay=False),
              help="ONNX file to evaluate (default: the simplified ONNX of the last `zoo sync`).")
@click.option("--out", "out_root", default=Path("out"), show_default=True,
              type=click.Path(path_type=Path, file_okay=False), help=OUT_HELP)
@click.option("--batch", default=16, show_default=True, type=click.IntRange(min=1), help="Images per inference.")
@click.option("--threads", type=click.IntRange(min=1), help="ONNX Runtime threads (default: all cores).")
@click.option("--workers", type=click.IntRange(min=1), help="Image decoding threads (default: up to 4).")
@store_option
@json_option
@click.pass_context
def evaluate(ctx: click.Context, model_id: str, data: Path | None, results: Path | None, datalist: Path | None,
             dtype: str | None, labels: Path | None, limit: int | None, mode: str, onnx: Path | None, out_root: Path,
             batch: int, threads: int | None, workers: int | None, store_dir: Path | None, as_json: bool) -> None:
    """Top-1/top-5 accuracy with ONNX Runtime (--data), or of the device's own results (--results),
    checked against the manifest's expected numbers.

    Exit status 1 when the accuracy lies outside the tolerance max(0.1, 3 standard errors), plus the
    dtype's quantisation allowance for device results.
    """
    from zoo.deploy.emulate import PIPELINES
    from zoo.pipeline.steps.eval import EvalSettings, EvalStep, run_eval

    model = one_model(ctx, model_id)
    if results is not None:
        if data is not None or onnx is not None or limit is not None:
            raise click.UsageError("--results scores what the device returned; leave out --data, --onnx and --limit")
        _score_device(ctx, model, results, datalist, dtype or model.deploy.dtype.value, labels, out_root, as_json)
        return
    if data is None:
        raise click.UsageError("give --data DIR (images to run with ONNX Runtime) or --results PATH (device results)")
    settings = EvalSettings(data=str(data), labels=str(labels) if labels else None, limit=limit,
                            pipelines=PIPELINES if mode == "both" else (mode,), batch=batch, threads=threads,
                            workers=workers)
    folder, record, onnx_path = _synced(model, out_root, onnx)
    dataset, samples = settings.samples(model)
    if not as_json:
        out.print(f"{model.id}: {onnx_path} on {len(samples)} of {dataset.describe()}", markup=False)
    random_weights = bool(record and record.random_weights)
    with counter(f"eval {model.id}", len(samples)) as advance:
        metrics, warnings, recorded = _run(ctx, model, out_root, onnx, record, EvalStep(settings), advance, lambda r: (
            run_eval(model, settings, onnx_path, folder, random_weights=random_weights, report=r)))
    if as_json:
        emit_json(_document(model, onnx_path, metrics, warnings, recorded))
        ctx.exit(1 if metrics["passed"] is False else 0)
    _print_eval(metrics)
    for note in warnings:
        warning(note)
    if metrics["converted_to_rgb"]:
        counts = ", ".join(f"{n} {m}" for m, n in metrics["converted_to_rgb"].items())
        out.print(f"converted to RGB: {counts}", markup=False)
    for name in settings.pipelines:
        out.print(f"wrote {folder / f'predictions-{name}.txt'}", markup=False)
    _say_recorded(recorded, onnx)
    if metrics["passed"] is False:
        ctx.exit(1)


def _score_device(ctx: click.Context, model: Model, results: Path, datalist: Path | None, dtype: str,
                  labels: Path | None, out_root: Path, as_json: bool) -> None:
    """Score the device's results; record them as the model's deployed accuracy for `dtype`."""
    from zoo.pipeline.record import read_record
    from zoo.pipeline.steps.deployed import DeviceSettings, deployed_step, score_device

    settings = DeviceSettings(results=str(results), dtype=dtype, datalist=str(datalist) if datalist else None,
                              labels=str(labels) if labels else None)
    record = read_record(out_root / model.stem)
    if record is not None:
        metrics, _, recorded = _measure(ctx, model, record, out_root, deployed_step(settings), lambda _: None)
    else:
        metrics, recorded = score_device(model, settings, random_weights=False).metrics, None
    if as_json:
        emit_json({"model": model.id, "results": str(results), "metrics": metrics,
                   "record": str(recorded) if recorded is not None else None})
        ctx.exit(1 if metrics["passed"] is False else 0)
    out.print(f"{model.id} on the device ({dtype}, {metrics['format']}: {metrics['results']}): "
              f"{metrics['images']} images, top-1 {metrics['top1']:.2f} %, top-5 {metrics['top5']:.2f} %", markup=False)
    deployed = model.reported.deployed.get(Dtype(dtype))
    if deployed is not None:
        out.print(f"reported upstream for {dtype}: top-1 {deployed.top1}, top-5 {deployed.top5}", markup=False)
    _print_checks(metrics, f"{dtype} on the device, allowance {metrics['allowance']:g} pt")
    if recorded is not None:
        out.print(f"recorded in {recorded}", markup=False)
    else:
        warning(f"not recorded: {out_root / model.stem} has no record.json; run `zoo sync {model.id}` first to "
                "keep the deployed accuracy with the model")
    if metrics["passed"] is False:
        ctx.exit(1)


def _run(ctx: click.Context, model: Model, out_root: Path, onnx: Path | None, record: Record | None, step: Step,
         advance: Callable[[int], None],
         direct: Callable[[StepReport], StepResult]) -> tuple[dict[str, Any], list[str], Path | None]:
    """(metrics, warnings, record path): the opt-in step on the last sync, or `direct` on --onnx FILE."""
    if onnx is None and record is not None:
        return _measure(ctx, model, record, out_root, step, advance)
    result = direct(_Counted(advance))
    return result.metrics, result.warnings, None


def _document(model: Model, onnx: Path, metrics: dict[str, Any], warnings: list[str],
              recorded: Path | None) -> dict[str, Any]:
    """`zoo eval --json` and `zoo bench --json`: the step's metrics as the record stores them."""
    return {"model": model.id, "onnx": str(onnx), "metrics": metrics, "warnings": warnings,
            "record": str(recorded) if recorded is not None else None}


def _say_recorded(record: Path | None, onnx: Path | None) -> None:
    if record is not None:
        out.print(f"recorded in {record}", markup=False)
    else:
        warning(f"the measurement of --onnx {onnx} is not recorded (records describe what `zoo sync` made)")


def _print_eval(metrics: dict[str, Any]) -> None:
    from rich.table import Table

    primary = metrics["preprocess"]
    table = Table(title=f"{metrics['images']} images, {metrics['images_per_second']:.1f} images/s",
                  title_justify="left")
    for column in ("pre-processing", "top-1 %", "top-5 %"):
        table.add_column(column, justify="left" if column == "pre-processing" else "right")
    rows = {primary: metrics, **{n: metrics[n] for n in ("source", "deploy") if isinstance(metrics.get(n), dict)}}
    for name, score in rows.items():
        table.add_row(name, f"{score['top1']:.2f}", f"{score['top5']:.2f}")
    out.print(table)
    if "top1_changed" in metrics:
        out.print(f"deploy vs source: top-1 changes on {100 * metrics['top1_changed']:.2f} % of the images, "
                  f"mean logit cosine {metrics['logit_cosine']:.6f}", markup=False)
    _print_checks(metrics, primary)


def _print_checks(metrics: dict[str, Any], how: str) -> None:
    """Each check against the manifest's expected accuracy, or why there is none."""
    if not metrics["compared"]:
        out.print(f"not compared with expected: {metrics['reason']}", markup=False)
        return
    for name, check in metrics["checks"].items():
        status = "[green]pass[/]" if check["passed"] else "[bold red]FAIL[/]"
        out.print(f"{name} ({how}): measured {check['measured']:.2f}, expected {check['expected']:.2f}, "
                  f"tolerance ±{check['tolerance']:.2f} -> {status}")


def _batches(value: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of batch sizes, e.g. 1,4,8") from None
    if not sizes or min(sizes) < 1:
        raise click.BadParameter("batch sizes must be positive integers, e.g. 1,4,8")
    return sizes


@click.command()
@click.argument("model_id", shell_complete=complete_ids)
@click.option("--batch", "batches", default="1,4,8", show_default=True, help="Batch sizes, comma-separated.")
@click.option("--threads", type=click.IntRange(min=1), help="ONNX Runtime intra-op threads (default: all cores).")
@click.option("--repeats", default=20, show_default=True, type=click.IntRange(min=1), help="Timed runs per batch size.")
@click.option("--warmup", default=3, show_default=True, type=click.IntRange(min=0), help="Untimed runs first.")
@click.option("--onnx", type=click.Path(path_type=Path, dir_okay=False),
              help="ONNX file to time (default: the simplified ONNX of the last `zoo sync`).")
@click.option("--out", "out_root", default=Path("out"), show_default=True,
              type=click.Path(path_type=Path, file_okay=False), help=OUT_HELP)
@store_option
@json_option
@click.pass_context
def bench(ctx: click.Context, model_id: str, batches: str, threads: int | None, repeats: int, warmup: int,
          onnx: Path | None, out_root: Path, store_dir: Path | None, as_json: bool) -> None:
    """CPU latency with ONNX Runtime per batch size (median and p90), recorded with the machine."""
    from rich.table import Table

    from zoo.measure.bench import milliseconds
    from zoo.pipeline.steps.bench import BenchSettings, BenchStep, run_bench

    settings = BenchSettings(batches=_batches(batches), threads=threads, repeats=repeats, warmup=warmup)
    model = one_model(ctx, model_id)
    _, record, onnx_path = _synced(model, out_root, onnx)
    with counter(f"bench {model.id}", settings.runs) as advance:
        metrics, notes, recorded = _run(ctx, model, out_root, onnx, record, BenchStep(settings), advance,
                                        lambda r: run_bench(model, settings, onnx_path, r))
    if as_json:
        emit_json(_document(model, onnx_path, metrics, notes, recorded))
        return
    table = Table(title=f"{model.id} on {metrics['machine']}, {metrics['threads']} thread(s)", title_justify="left")
    for column in ("batch", "median ms", "p90 ms", "ms per image"):
        table.add_column(column, justify="right")
    for size, latency in sorted(metrics["latency_ms"].items(), key=lambda item: int(item[0])):
        table.add_row(size, milliseconds(latency["median"]), milliseconds(latency["p90"]),
                      milliseconds(latency["median"] / int(size)))
    out.print(table)
    for size, reason in sorted(metrics["skipped"].items(), key=lambda item: int(item[0])):
        warning(f"batch {size} skipped: {reason}")
    _say_recorded(recorded, onnx)


@click.command()
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="Labelled images: class folders (n01440764/...) or a folder plus val_label.txt.")
@click.option("--labels", type=click.Path(path_type=Path, dir_okay=False), help="Label file, if not val_label.txt.")
@click.option("--count", default=1000, show_default=True, type=click.IntRange(min=1), help="Images to select.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder to create with the selected images and val_label.txt.")
@click.option("--seed", default=0, show_default=True, type=int, help="Changes which images are picked.")
@click.option("--expect-classes", type=click.IntRange(min=1),
              help="Fail unless the data has images of this many classes (1000 for ImageNet-1k).")
def calib(data: Path, labels: Path | None, count: int, out_dir: Path, seed: int, expect_classes: int | None) -> None:
    """Pick a deterministic, stratified int8 calibration set in which every class is represented."""
    from zoo.measure import calib as calibration
    from zoo.measure.datasets import open_dataset

    dataset = open_dataset(data, label_file=labels)
    chosen = calibration.select(dataset, count, seed=seed, expect_classes=expect_classes)
    written = calibration.write(chosen, out_dir)
    for message in written.warnings:
        warning(message)
    classes = len({s.label for s in chosen})
    if written.unchanged:
        out.print(f"{out_dir}: already holds this selection ({written.images} images, {classes} classes)", markup=False)
    else:
        how = ", ".join(f"{n} {method}(s)" for method, n in written.methods.most_common())
        out.print(f"{out_dir}: {written.images} images of {classes} classes from {dataset.describe()} ({how}); "
                  f"list in {written.label_file}", markup=False)
    out.print(f"use it with: zoo render ID --calib-dir {out_dir.absolute()} (or zoo sync ID --calib-dir ...)",
              markup=False)


@click.command()
@click.option("--data", required=True, type=click.Path(path_type=Path, file_okay=False), help="Folder of images.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder receiving the .npz files (mirroring the image folders).")
@click.option("--size", nargs=2, type=click.IntRange(min=1), metavar="H W",
              help="Resize every image to H x W (BILINEAR_CV), e.g. the vdsp IimageHeight/IimageWidth.")
@click.option("--datalist", type=click.Path(path_type=Path, dir_okay=False),
              help="Datalist file (default: OUT/npz_datalist.txt).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Parallel workers (default: all cores).")
def npz(data: Path, out_dir: Path, size: tuple[int, int] | None, datalist: Path | None, jobs: int | None) -> None:
    """Write each image as uint8 CHW `input_0` in its own .npz, plus a datalist for vamp (resumable)."""
    from zoo.measure import npz as vamp_inputs
    from zoo.measure.datasets import find_images

    total = len(find_images(data)) if data.is_dir() else 0
    with counter("npz", total) as advance:
        result = vamp_inputs.convert(data, out_dir, size=(size[0], size[1]) if size else None, datalist=datalist,
                                     workers=jobs, progress=advance)
    converted = ", ".join(f"{n} {m}" for m, n in result.converted.items())
    out.print(f"{out_dir}: {result.written} written, {result.kept} already complete"
              + (f"; converted to RGB: {converted}" if converted else "") + f"; datalist {result.datalist}",
              markup=False)
