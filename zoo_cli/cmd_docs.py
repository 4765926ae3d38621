"""`zoo docs`: write the generated documentation, or check that the committed copy is current."""

from __future__ import annotations

from pathlib import Path

import click

from zoo.errors import ManifestError
from zoo.manifest.catalog import load_catalog
from zoo_cli.console import emit_json, err, json_option, out, warning


@click.command()
@click.option("--out", "out_dir", default=Path("docs"), show_default=True,
              type=click.Path(path_type=Path, file_okay=False), help="Folder of the generated pages.")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 and show a short diff if the folder differs from what would be generated.")
@click.option("--records", "records_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Output folder of `zoo sync` whose record.json files feed the measured tables "
                   "(default: none, so that the pages depend on the manifests alone).")
@click.option("--templates", "templates_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Folder overriding the shipped templates by relative path (also $ZOO_TEMPLATES).")
@json_option
@click.pass_context
def docs(ctx: click.Context, out_dir: Path, check: bool, records_dir: Path | None,
         templates_dir: Path | None, as_json: bool) -> None:
    """Generate the model pages, the index and the top-1 vs GFLOPs plot from manifests and records."""
    from zoo.docs import pages as generator
    from zoo.pipeline.record import read_records

    catalog = load_catalog(ctx.obj["manifest_dirs"])
    if catalog.problems:  # pages from a partial catalog would silently drop models
        raise ManifestError(catalog.problems)
    records = read_records(records_dir) if records_dir is not None else {}  # a missing folder: nothing synced
    for model_id in generator.unknown_records(catalog, records):
        warning(f"{records_dir}: record of `{model_id}` matches no model in the manifests; ignored")
    source = f"{len(catalog.models)} models, " + (
        f"{len(records)} sync record(s) from {records_dir}" if records_dir is not None else "no sync records")
    files = generator.generate(catalog, records, templates_dir, drawn_in=out_dir)
    if check:
        drifts = generator.compare(files, out_dir)
        if as_json:
            emit_json({"ok": not drifts, "check": True, "out": str(out_dir), "files": len(files),
                       "drifts": [{"path": d.path, "kind": d.kind} for d in drifts]})
            ctx.exit(1 if drifts else 0)
        if not drifts:
            out.print(f"{out_dir}: {len(files)} generated file(s) are current ({source})", markup=False)
            return
        for drift in drifts:
            err.print(f"{out_dir / drift.path}: {_explain(drift.kind)}", markup=False, highlight=False)
            for line in drift.diff:
                err.print("    " + line, markup=False, highlight=False)
        err.print(f"{len(drifts)} file(s) out of date ({source}); run `zoo docs --out {out_dir}` and commit the result",
                  markup=False, highlight=False)
        ctx.exit(1)
    summary = generator.write_docs(files, out_dir)
    if as_json:
        emit_json({"ok": True, "check": False, "out": str(out_dir), "files": len(files), "written": summary.written,
                   "unchanged": summary.unchanged, "removed": summary.removed})
        return
    for name in summary.written:
        out.print(f"wrote {out_dir / name}", markup=False)
    for name in summary.removed:
        out.print(f"removed {out_dir / name} (no longer generated)", markup=False)
    out.print(f"{out_dir}: {len(summary.written)} written, {len(summary.unchanged)} unchanged, "
              f"{len(summary.removed)} removed ({source})", markup=False)


def _explain(kind: str) -> str:
    return {
        "stale": "stale (differs from what the manifests and records generate)",
        "missing": "missing (would be generated)",
        "extra": "extra (a generated file that is no longer produced)",
    }[kind]
