"""`zoo import`, `zoo check`, `zoo diff`: manifests against the libraries' own configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from zoo.store.local import default_root
from zoo_cli.cmd_catalog import catalog_from, complete_ids, select_options
from zoo_cli.console import emit_json, error, json_option, out, warning

#: The pseudo-library `zoo import` takes for VastModelZOO family folders.
VMZ = "vmz"
#: Where fetched library versions and config files are kept, below the store root.
LIBRARIES = "libraries"


def cache_options(fn: Any) -> Any:
    """`--store` and `--offline`, shared by the commands that read library configs."""
    fn = click.option("--offline", is_flag=True,
                      help="Never download: use the installed library and what is cached.")(fn)
    fn = click.option("--store", "store_dir", type=click.Path(file_okay=False, path_type=Path),
                      help="Store folder whose `libraries/` caches fetched library versions and config files "
                           "(default: $ZOO_HOME or ~/.cache/zoo).")(fn)
    return fn


def library_cache(store_dir: Path | None) -> Path:
    return (store_dir or default_root()) / LIBRARIES


@click.command()
@click.argument("patterns", nargs=-1, shell_complete=complete_ids)
@click.option("--all", "all_models", is_flag=True, help="Check every model (the default without patterns).")
@select_options
@cache_options
@json_option
@click.pass_context
def check(ctx: click.Context, patterns: tuple[str, ...], all_models: bool, family: str | None, source: str | None,
          tag: str | None, store_dir: Path | None, offline: bool, as_json: bool) -> None:
    """Compare models (all, or ids, names, globs) with their library's own config at the pinned version."""
    from zoo.sources.check import check_models

    catalog = catalog_from(ctx)
    models = catalog.select(patterns, all_models=all_models or not patterns, family=family, source=source, tag=tag)
    report = check_models(catalog, models, library_cache(store_dir), offline=offline)
    if as_json:
        emit_json(_check_document(report))
        ctx.exit(0 if report.ok else 1)
    for disagreement in report.disagreements:
        if disagreement.reason:
            out.print(str(disagreement), markup=False, highlight=False)
        else:
            error(str(disagreement))
    for model_id, why in sorted(report.unchecked.items()):
        error(f"{model_id}: not checked: {why}")
    for library, why in sorted(report.unsupported.items()):
        warning(f"{library}: {why}")
    for note in report.notes:
        warning(note)
    out.print(
        f"checked {len(report.checked)} of {len(models)} model(s): {len(report.unexplained)} unexplained "
        f"disagreement(s), {len(report.disagreements) - len(report.unexplained)} explained, "
        f"{len(report.unchecked)} not checked",
        markup=False,
    )
    if not report.ok:
        ctx.exit(1)


def _check_document(report: Any) -> dict[str, Any]:
    """`zoo check --json`."""
    return {"ok": report.ok, "checked": report.checked, "unchecked": report.unchecked,
            "unsupported": report.unsupported, "notes": report.notes,
            "disagreements": [{"model": d.model_id, "file": str(d.file), "line": d.line, "field": d.difference.field,
                               "manifest": d.difference.manifest, "library": d.difference.library,
                               "read_from": d.read_from, "reason": d.reason} for d in report.disagreements]}


@click.command("import")
@click.argument("library")
@click.argument("archs", nargs=-1, required=True)
@click.option("--family", help="Add to this family's manifest (it must exist unless --into names a new file).")
@click.option("--into", type=click.Path(path_type=Path),
              help="The manifest file to add to; created when it does not exist (`vmz`: or a folder for new families).")
@click.option("--config", "eval_config",
              help="The eval config of each model, for a library whose package does not ship it (ppcls): a path, "
                   "a URL, or `standard`; `{arch}` is replaced by the architecture's name.")
@click.option("--dry-run", is_flag=True, help="Print the YAML that would be added; write nothing.")
@cache_options
@click.pass_context
def import_models(ctx: click.Context, library: str, archs: tuple[str, ...], family: str | None, into: Path | None,
                  eval_config: str | None, dry_run: bool, store_dir: Path | None, offline: bool) -> None:
    """Add models to a family manifest from LIBRARY's own configs: ARCH[@VERSION], globs allowed.

    `zoo import vmz FAMILY_DIR...` migrates VastModelZOO family folders instead (--into names a file,
    or a folder for the new family files; a family already in the zoo is added to).
    """
    if library == VMZ:
        _import_vmz(ctx, [Path(a) for a in archs], family, into, dry_run, store_dir, offline)
        return
    from zoo.manifest.edit import publish_checked
    from zoo.sources.importer import plan_import

    catalog = catalog_from(ctx)
    plan = plan_import(catalog, library, archs, family=family, into=into, cache=library_cache(store_dir),
                       offline=offline, config=eval_config)
    for arch, why in plan.skipped.items():
        warning(f"{library}/{arch}: skipped: {why}")
    if not plan.added:
        error("nothing to import")
        ctx.exit(1)
    if dry_run:
        out.print(plan.preview, markup=False, highlight=False, end="")
        out.print(f"would add {len(plan.added)} model(s) to {plan.file}", markup=False)
        return
    publish_checked(plan.file, plan.text, plan.added)
    out.print(f"added {len(plan.added)} model(s) to {plan.file}: {', '.join(plan.added)}", markup=False)


def _import_vmz(ctx: click.Context, folders: list[Path], family: str | None, into: Path | None, dry_run: bool,
                store_dir: Path | None, offline: bool) -> None:
    """Each VastModelZOO family folder into its family manifest; skipped rows are listed with why."""
    from zoo.errors import LibraryConfigError, UpstreamError
    from zoo.manifest.edit import publish_checked
    from zoo.migrate.entries import plan_vmz_import

    added = 0
    for folder in folders:
        catalog = catalog_from(ctx)
        slug = family or folder.name
        target = into / f"{slug}.yaml" if into is not None and (into.is_dir() or len(folders) > 1) else into
        if target is not None and slug in catalog.families:
            target = None  # an existing family is added to, wherever its file is
        try:
            plan = plan_vmz_import(catalog, folder, library_cache(store_dir), family=slug, into=target, offline=offline)
        except (UpstreamError, LibraryConfigError) as exc:
            if len(folders) == 1:
                raise
            warning(f"{folder.name}: skipped: {exc}")
            continue
        for what, why in plan.skipped.items():
            warning(f"{folder.name}: {what}: skipped: {why}")
        if not plan.added:
            continue
        added += len(plan.added)
        if dry_run:
            out.print(plan.preview, markup=False, highlight=False, end="")
            continue
        publish_checked(plan.file, plan.text, plan.added)
        out.print(f"added {len(plan.added)} model(s) to {plan.file}: {', '.join(plan.added)}", markup=False)
    if not added:
        error("nothing to import")
        ctx.exit(1)


@click.command("diff")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--model", "model_id", help="Compare every file with this model (default: matched by file name).")
@click.option("--all-fields", is_flag=True, help="List equal fields too.")
@cache_options
@click.pass_context
def diff(ctx: click.Context, paths: tuple[Path, ...], model_id: str | None, all_fields: bool,
         store_dir: Path | None, offline: bool) -> None:
    """Compare deployment files (or folders of them) with what zoo renders, classifying every difference."""
    from collections import Counter

    from zoo.deploy.audit import Verdict, audit_files

    catalog = catalog_from(ctx)
    audits = audit_files(paths, catalog, library_cache(store_dir), offline=offline, model_id=model_id)
    total: Counter[Verdict] = Counter()
    for audit in audits:
        if audit.skipped:
            warning(f"{audit.path}: skipped: {audit.skipped}")
            continue
        out.print(f"{audit.path}: {audit.model_id}, {audit.dialect} (library: {audit.library})", markup=False)
        for found in audit.fields:
            if all_fields or found.verdict != Verdict.equal:
                out.print(f"  {found.field}: {found.verdict.value}: {_values(found)}", markup=False)
        counts = audit.counts()
        total += counts
        out.print("  " + _tally(counts), markup=False)
    compared = sum(1 for a in audits if not a.skipped)
    out.print(f"{compared} of {len(audits)} file(s) compared: {_tally(total)}", markup=False)
    if not compared:
        ctx.exit(1)


def _values(found: Any) -> str:
    from zoo.deploy.audit import ABSENT

    shown = f"file {found.file!r}, zoo {found.zoo!r}"
    return shown if found.library == ABSENT else f"{shown}, library {found.library!r}"


def _tally(counts: Any) -> str:
    from zoo.deploy.audit import Verdict

    return ", ".join(f"{counts.get(v, 0)} {v.value}" for v in Verdict)
