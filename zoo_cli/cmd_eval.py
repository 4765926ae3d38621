"""`zoo eval`, `zoo bench`, `zoo calib`, `zoo npz`: measuring a synced model and preparing data.

Long work shows a rich progress bar on a terminal and a plain line every 10 % otherwise (CI logs).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from zoo.errors import SelectionError
from zoo.manifest.schema import Model
from zoo_cli.cmd_catalog import catalog_from
from zoo_cli.console import err, out, warning

OUT_HELP = "Output folder of `zoo sync` (one sub-folder per model holding record.json)."


@contextmanager
def progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """Yield an `advance(n)` callback drawing progress on stderr."""
    if err.is_terminal:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn())
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)
        return
    state = {"done": 0, "next": max(1, total // 10), "started": time.perf_counter()}

    def advance(n: int) -> None:
        state["done"] += n
        if state["done"] >= state["next"] or state["done"] >= total:
            elapsed = time.perf_counter() - state["started"]
            err.print(f"{description}: {state['done']}/{total} ({100 * state['done'] // max(total, 1)} %, "
                      f"{elapsed:.1f} s)", markup=False, highlight=False)
            state["next"] = state["done"] + max(1, total // 10)

    yield advance


def one_model(ctx: click.Context, pattern: str) -> Model:
    models = catalog_from(ctx).select([pattern])
    if len(models) != 1:
        raise SelectionError(f"{pattern!r} matches {len(models)} models ({', '.join(m.id for m in models)}); name one id")
    return models[0]


def _onnx_and_record(model: Model, out_root: Path, onnx: Path | None):  # type: ignore[no-untyped-def]
    from zoo.errors import StepError
    from zoo.measure.evaluate import synced_onnx
    from zoo.pipeline.record import read_record

    folder = out_root / model.stem
    record = read_record(folder)
    if onnx is not None:
        if not onnx.is_file():
            raise StepError(f"ONNX file {onnx} does not exist")
        return folder, record, onnx
    return folder, record, synced_onnx(folder, record)


@click.command("eval")
@click.argument("model_id")
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="Labelled images: class folders (n01440764/...) or a folder plus val_label.txt.")
@click.option("--labels", type=click.Path(path_type=Path, dir_okay=False),
              help="Label file (`<image> <label>` lines) if not val_label.txt next to the images.")
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
@click.pass_context
def evaluate(ctx: click.Context, model_id: str, data: Path, labels: Path | None, limit: int | None, mode: str,
             onnx: Path | None, out_root: Path, batch: int, threads: int | None, workers: int | None) -> None:
    """Top-1/top-5 accuracy with ONNX Runtime, checked against the manifest's expected numbers.

    Exit status 1 when the accuracy lies outside the tolerance max(0.1, 3 standard errors).
    """
    from zoo.deploy import emulate
    from zoo.measure import evaluate as ev
    from zoo.measure.datasets import open_dataset
    from zoo.pipeline.record import save_step

    model = one_model(ctx, model_id)
    folder, record, onnx_path = _onnx_and_record(model, out_root, onnx)
    dataset = open_dataset(data, label_file=labels, num_classes=model.num_classes)
    samples = dataset.interleaved(limit)
    names = emulate.PIPELINES if mode == "both" else (mode,)
    out.print(f"{model.id}: {onnx_path} on {len(samples)} of {dataset.describe()}", markup=False)
    predictions = {name: folder / f"predictions-{name}.txt" for name in names}
    with progress(f"eval {model.id}", len(samples)) as advance:
        result = ev.evaluate(model, samples, onnx_path, pipelines=emulate.pipelines(model, names), batch=batch,
                             threads=threads, workers=workers, predictions=predictions, progress=advance)
    random_weights = bool(record and record.random_weights)
    judged = ev.verdict(model, result, random_weights=random_weights)
    _print_eval(result, judged)
    for note in result.notes:
        warning(note)
    if result.converted:
        counts = ", ".join(f"{n} {m}" for m, n in result.converted.items())
        out.print(f"converted to RGB: {counts}", markup=False)
    for path in predictions.values():
        out.print(f"wrote {path}", markup=False)
    if record is None:
        warning(f"{folder} has no record.json (no `zoo sync` yet): the result is not recorded")
    else:
        step = ev.eval_step(model, result, judged, onnx_path, samples, dataset.describe())
        out.print(f"recorded in {save_step(folder, step)}", markup=False)
    if judged.passed is False:
        ctx.exit(1)


def _print_eval(result, judged) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    table = Table(title=f"{result.images} images, {result.images_per_second:.1f} images/s", title_justify="left")
    for column in ("pre-processing", "top-1 %", "top-5 %"):
        table.add_column(column, justify="left" if column == "pre-processing" else "right")
    for name, score in result.scores.items():
        table.add_row(name, f"{score.top1:.2f}", f"{score.top5:.2f}")
    out.print(table)
    if result.top1_changed is not None:
        out.print(f"deploy vs source: top-1 changes on {100 * result.top1_changed:.2f} % of the images, "
                  f"mean logit cosine {result.logit_cosine:.6f}", markup=False)
    if not judged.compared:
        out.print(f"not compared with expected: {judged.reason}", markup=False)
        return
    for check in judged.checks:
        status = "[green]pass[/]" if check.passed else "[bold red]FAIL[/]"
        out.print(f"{check.metric} ({judged.pipeline}): measured {check.measured:.2f}, expected {check.expected:.2f}, "
                  f"tolerance ±{check.tolerance:.2f} -> {status}")


def _batches(value: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of batch sizes, e.g. 1,4,8") from None
    if not sizes or min(sizes) < 1:
        raise click.BadParameter("batch sizes must be positive integers, e.g. 1,4,8")
    return sizes


@click.command()
@click.argument("model_id")
@click.option("--batch", "batches", default="1,4,8", show_default=True, help="Batch sizes, comma-separated.")
@click.option("--threads", type=click.IntRange(min=1), help="ONNX Runtime intra-op threads (default: all cores).")
@click.option("--repeats", default=20, show_default=True, type=click.IntRange(min=1), help="Timed runs per batch size.")
@click.option("--warmup", default=3, show_default=True, type=click.IntRange(min=0), help="Untimed runs first.")
@click.option("--onnx", type=click.Path(path_type=Path, dir_okay=False),
              help="ONNX file to time (default: the simplified ONNX of the last `zoo sync`).")
@click.option("--out", "out_root", default=Path("out"), show_default=True,
              type=click.Path(path_type=Path, file_okay=False), help=OUT_HELP)
@click.pass_context
def bench(ctx: click.Context, model_id: str, batches: str, threads: int | None, repeats: int, warmup: int,
          onnx: Path | None, out_root: Path) -> None:
    """CPU latency with ONNX Runtime per batch size (median and p90), recorded with the machine."""
    from zoo.measure.bench import bench_step, benchmark
    from zoo.pipeline.record import save_step

    sizes = _batches(batches)
    model = one_model(ctx, model_id)
    folder, record, onnx_path = _onnx_and_record(model, out_root, onnx)
    with progress(f"bench {model.id}", len(set(sizes)) * (repeats + warmup)) as advance:
        result = benchmark(onnx_path, model.input_size, batches=sizes, threads=threads, repeats=repeats,
                           warmup=warmup, progress=advance)
    from rich.table import Table

    table = Table(title=f"{model.id} on {result.machine}, {result.threads} thread(s)", title_justify="left")
    for column in ("batch", "median ms", "p90 ms", "ms per image"):
        table.add_column(column, justify="right")
    for size, latency in sorted(result.latency.items()):
        table.add_row(str(size), f"{latency.median:.2f}", f"{latency.p90:.2f}", f"{latency.median / size:.2f}")
    out.print(table)
    for size, reason in sorted(result.skipped.items()):
        warning(f"batch {size} skipped: {reason}")
    if record is None:
        warning(f"{folder} has no record.json (no `zoo sync` yet): the result is not recorded")
    else:
        out.print(f"recorded in {save_step(folder, bench_step(result, onnx_path, model.id))}", markup=False)


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
    with progress("npz", total) as advance:
        result = vamp_inputs.convert(data, out_dir, size=(size[0], size[1]) if size else None, datalist=datalist,
                                     workers=jobs, progress=advance)
    converted = ", ".join(f"{n} {m}" for m, n in result.converted.items())
    out.print(f"{out_dir}: {result.written} written, {result.kept} already complete"
              + (f"; converted to RGB: {converted}" if converted else "") + f"; datalist {result.datalist}",
              markup=False)
