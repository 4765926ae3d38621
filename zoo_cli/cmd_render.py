"""`zoo render`: deployment configs from the manifests alone (no weights, no framework)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from zoo.deploy.profiles import DEFAULT_PROFILE, PROFILES
from zoo.deploy.render import render_all
from zoo_cli.cmd_catalog import catalog_from, complete_ids, select_options
from zoo_cli.console import emit_json, error, json_option, out, shown, warning


@click.command()
@click.argument("patterns", nargs=-1, shell_complete=complete_ids)
@click.option("--all", "all_models", is_flag=True, help="Render every model.")
@select_options
@click.option("--profile", type=click.Choice(sorted(PROFILES)), default=DEFAULT_PROFILE, show_default=True,
              help="build_in: vamc YAML + build_in vdsp_params + model_info; "
                   "sdk1: legacy vamc YAML + sdk1.0 and vamp vdsp_params + model_info.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("out"),
              show_default=True, help="Output folder (one sub-folder per model).")
@click.option("--dtype", type=click.Choice(["int8", "fp16"]), help="Override the manifests' deploy.dtype.")
@click.option("--calib-dir", help="Calibration image folder written into int8 build YAMLs.")
@click.option("--templates", "templates_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of templates overriding the built-in ones by relative path (also $ZOO_TEMPLATES).")
@json_option
@click.pass_context
def render(ctx: click.Context, patterns: tuple[str, ...], all_models: bool, family: str | None,
           source: str | None, tag: str | None, profile: str, out_dir: Path, dtype: str | None,
           calib_dir: str | None, templates_dir: Path | None, as_json: bool) -> None:
    """Write vamc build YAML, vdsp_params and model_info files for models (ids, names, globs)."""
    catalog = catalog_from(ctx)
    models = catalog.select(patterns, all_models=all_models, family=family, source=source, tag=tag)
    started = time.perf_counter()
    batch = render_all(models, out_dir=out_dir, profile=profile, dtype=dtype, calib_dir=calib_dir,
                       templates_dir=templates_dir)
    seconds = time.perf_counter() - started
    if as_json:
        emit_json({"ok": not batch.failures, "profile": profile, "out": shown(out_dir), "seconds": round(seconds, 3),
                   "models": [{"model": r.model_id, "files": [shown(f) for f in r.files],
                               "approximations": list(r.approximations), "notes": list(r.notes)}
                              for r in batch.results],
                   "failures": batch.failures})
        ctx.exit(1 if batch.failures else 0)
    notes: list[str] = []
    approximations = 0
    for result in batch.results:
        out.print(f"{result.model_id}:", markup=False)
        for file in result.files:
            out.print(f"  {shown(file)}", markup=False, highlight=False)
        for line in result.approximations:
            warning(f"{result.model_id}: approximation: {line}")
        approximations += len(result.approximations)
        notes += [n for n in result.notes if n not in notes]
    for note in notes:
        warning(note)
    for model_id, message in batch.failures.items():
        error(f"{model_id}: {message}")
    out.print(
        f"rendered {len(batch.results)} model(s), profile {profile}, into {shown(out_dir)} in {seconds:.2f} s; "
        f"{approximations} approximation(s), {len(batch.failures)} failure(s)",
        markup=False,
    )
    if batch.failures:
        ctx.exit(1)
