"""`zoo measure`: params and MACs of models, written to `measured.json` beside their manifests.

The models are converted with random weights and simplified by the pipeline's own steps (cached
in the store, in worker processes, `-j` at a time), which count params and MACs as a sync does.
Nothing is published: the ONNX files go to a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

import click

from zoo.manifest.catalog import Catalog
from zoo.manifest.measured import Measured, measured_file, measured_for, read_measured, write_measured
from zoo.manifest.schema import Model
from zoo_cli.cmd_catalog import catalog_from, complete_ids, select_options
from zoo_cli.cmd_sync import EXIT_INTERRUPTED, reporter, store_option
from zoo_cli.console import emit_json, error, info, json_option, out


@click.command()
@click.argument("patterns", nargs=-1, shell_complete=complete_ids)
@click.option("--all", "all_models", is_flag=True, help="Every model in the catalog.")
@select_options
@click.option("--missing", is_flag=True, help="Only the selected models not measured yet (or at another input size).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if a count differs from the file's.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Conversions at once.")
@store_option
@json_option
@click.pass_context
def measure(ctx: click.Context, patterns: tuple[str, ...], all_models: bool, family: str | None, source: str | None,
            tag: str | None, missing: bool, check: bool, jobs: int, store_dir: Path | None, as_json: bool) -> None:
    """Count params and MACs of models (random weights suffice) into measured.json beside their manifests."""
    from zoo.store.local import LocalStore

    catalog = catalog_from(ctx)
    models = catalog.select(patterns, all_models=all_models or missing, family=family, source=source, tag=tag)
    if missing:
        models = [m for m in models if measured_for(m, _manifest(catalog, m)) is None]
    with tempfile.TemporaryDirectory(prefix="zoo-measure-") as scratch:
        counted, failures = _count(models, LocalStore(store_dir), Path(scratch), jobs)
    differs = _differences(catalog, counted) if check else {}
    written = [] if check else _write(catalog, counted)
    if as_json:
        emit_json({"ok": not failures and not differs, "measured": {i: _row(m) for i, m in counted.items()},
                   "failures": failures, "differs": differs, "files": [str(p) for p in written]})
    else:
        for model_id, m in counted.items():
            out.print(f"{model_id}: {m.params_m:.3f} M params, {m.gmacs:.3f} GMACs at {'x'.join(map(str, m.input_size))}",
                      markup=False)
        for model_id, why in failures.items():
            error(f"{model_id}: not measured: {why}")
        for model_id, why in differs.items():
            error(f"{model_id}: {why}")
        changed = f"wrote {', '.join(map(str, written))}; `zoo docs` updates the index" if written else "no file changed"
        info(f"measured {len(counted)} model(s); {changed}")
    ctx.exit(1 if failures or differs else 0)


def _count(models: list[Model], store: Any, scratch: Path, jobs: int) -> tuple[dict[str, Measured], dict[str, str]]:
    """Convert and simplify `models` with random weights into `scratch` (the steps count params and
    MACs, as in a sync); (counts by id, failures by id)."""
    from zoo.pipeline.plan import build_plan
    from zoo.pipeline.record import read_record
    from zoo.pipeline.scheduler import run_plan
    from zoo.pipeline.steps.base import RunOptions
    from zoo.pipeline.steps.convert import ConvertStep
    from zoo.pipeline.steps.fetch import FetchStep
    from zoo.pipeline.steps.simplify import SimplifyStep

    steps = [FetchStep(), ConvertStep(), SimplifyStep()]
    plan = build_plan(models, RunOptions(random_weights=True), store, steps=steps, opt_in=[])
    show = reporter("text", plan)
    with getattr(show, "live", contextlib.nullcontext)():
        result = run_plan(plan, store, out_dir=scratch, jobs=jobs, keep_going=True, on_event=show)
    if result.interrupted:
        raise click.exceptions.Exit(EXIT_INTERRUPTED)
    counted, failures = {}, {}
    for model in models:
        record = read_record(scratch / model.stem) if model.id in result.records else None
        macs, params = (record.metric("simplify", "macs"), record.metric("simplify", "params")) if record else (None, None)
        if macs is None or params is None:
            outcome = next((o for o in result.outcomes if o.model_id == model.id and o.error), None)
            failures[model.id] = outcome.error if outcome is not None and outcome.error else "MACs could not be counted"
            continue
        counted[model.id] = Measured(tuple(model.input_size), int(params), int(macs))
    return counted, failures


def _write(catalog: Catalog, counted: dict[str, Measured]) -> list[Path]:
    """Each measured file that changed, updated with the counts of its folder's models."""
    by_file: dict[Path, dict[str, Measured]] = {}
    for model_id, counts in counted.items():
        path = measured_file(_manifest(catalog, catalog.models[model_id]))
        by_file.setdefault(path, {})[model_id] = counts
    return [path for path, updates in sorted(by_file.items()) if write_measured(path, updates)]


def _differences(catalog: Catalog, counted: dict[str, Measured]) -> dict[str, str]:
    """For `--check`: each model whose fresh count is not what its folder's file says."""
    differs = {}
    for model_id, fresh in counted.items():
        path = measured_file(_manifest(catalog, catalog.models[model_id]))
        recorded = read_measured(path).get(model_id)
        if recorded != fresh:
            differs[model_id] = f"{path} says {recorded and _row(recorded)}, measured {_row(fresh)}; run `zoo measure {model_id}`"
    return differs


def _manifest(catalog: Catalog, model: Model) -> Path:
    return catalog.families[model.family].file


def _row(m: Measured) -> dict[str, Any]:
    return {"input_size": list(m.input_size), "params": m.params, "macs": m.macs}
