"""`zoo list`, `zoo show`, `zoo lint`, `zoo schema`: reading the catalog, never a framework."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from zoo.manifest.catalog import Catalog, load_catalog, manifest_files
from zoo.manifest.schema import Model
from zoo_cli.console import emit_json, err, json_option, out, warning


def catalog_from(ctx: click.Context) -> Catalog:
    """Load the catalog the global options describe and warn (once) about broken files."""
    catalog = load_catalog(ctx.obj["manifest_dirs"])
    if catalog.problems:
        files = sorted({p.file.name for p in catalog.problems})
        warning(f"{len(catalog.problems)} manifest problem(s) in {', '.join(files)}; run `zoo lint` for details")
    return catalog


def complete_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of model ids (`zoo completion`), from the catalog the command line names."""
    from click.shell_completion import CompletionItem

    try:
        catalog = load_catalog(ctx.find_root().params.get("manifest_dirs") or ())
    except Exception:  # a completion must never print a traceback into the shell
        return []
    return [CompletionItem(i) for i in sorted(catalog.models) if i.startswith(incomplete)]


def select_options(fn: Any) -> Any:
    """The selection arguments shared by commands that act on models."""
    fn = click.option("--tag", help="Only models with this tag.")(fn)
    fn = click.option("--source", help="Only models from this library (timm, ppcls, ...).")(fn)
    fn = click.option("--family", help="Only models of this family.")(fn)
    return fn


def _fmt(value: Decimal | None) -> str:
    return "-" if value is None else str(value)


@click.command("list")
@click.argument("patterns", nargs=-1, shell_complete=complete_ids)
@select_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_models(ctx: click.Context, patterns: tuple[str, ...], family: str | None, source: str | None,
                tag: str | None, as_json: bool) -> None:
    """List models (all, or those matching ids, names or globs)."""
    catalog = catalog_from(ctx)
    models = catalog.select(patterns, all_models=True, family=family, source=source, tag=tag)
    if as_json:
        emit_json([_summary(m) for m in models])
        return
    from rich.table import Table

    table = Table(title=f"{len(models)} models", title_justify="left")
    for column in ("id", "family", "input", "top-1 %", "top-5 %", "GFLOPs", "params M", "weights"):
        table.add_column(column, justify="right" if column not in ("id", "family", "weights") else "left")
    for m in models:
        s = _summary(m)
        table.add_row(m.id, m.family, "x".join(map(str, m.input_size[1:])), _fmt(s["top1"]), _fmt(s["top5"]),
                      _fmt(s["flops_g"]), _fmt(s["params_m"]), s["weights"])
    out.print(table)


def _summary(m: Model) -> dict[str, Any]:
    expected = m.expected
    if m.weights is None:
        weights = "none"
    else:
        weights = "pinned" if m.weights.sha256 else "unpinned"
    return {
        "id": m.id,
        "family": m.family,
        "input_size": list(m.input_size),
        "top1": expected.percent("top1") if expected else None,
        "top5": expected.percent("top5") if expected else None,
        "flops_g": m.reported.flops_g,
        "params_m": m.reported.params_m,
        "weights": weights,
    }


@click.command()
@click.argument("patterns", nargs=-1, shell_complete=complete_ids, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, patterns: tuple[str, ...], as_json: bool) -> None:
    """Show the resolved manifest of models plus their derived preprocessing numbers."""
    from dataclasses import asdict

    from zoo.manifest.derived import derive

    catalog = catalog_from(ctx)
    models = catalog.select(patterns)
    from zoo.redaction import redact_data

    documents = [  # URLs as zoo prints them everywhere: without credentials
        redact_data({"id": m.id, **m.model_dump(mode="python", by_alias=True), "derived": asdict(derive(m))})
        for m in models
    ]
    if as_json:
        emit_json(documents if len(documents) > 1 else documents[0])
        return
    import yaml

    dumper = _manifest_dumper()
    for m, doc in zip(models, documents, strict=True):
        out.rule(f"[bold]{m.id}[/]")
        d = doc["derived"]
        out.print(
            f"input {m.input_size[0]}x{d['input_height']}x{d['input_width']}; "
            f"resize to {d['resize_height']}x{d['resize_width']} ({m.preprocess.interpolation}), "
            f"crop at x={d['crop_x']} y={d['crop_y']}; mean fp16 {list(d['mean_fp16'])}, "
            f"std fp16 {list(d['std_fp16'])}; bits {list(d['mean_bits'])} / {list(d['std_bits'])}"
        )
        out.print(yaml.dump(doc, Dumper=dumper, sort_keys=False, allow_unicode=True,
                            default_flow_style=None, width=120), markup=False)


def _manifest_dumper() -> type:
    """A YAML dumper that prints resolved manifests as they are written: reported numbers with
    their digits (`17.50`, not `17.5`), enums by value, tuples as lists."""
    from enum import Enum

    import yaml

    class ManifestDumper(yaml.SafeDumper):
        pass

    ManifestDumper.add_representer(Decimal, lambda d, v: d.represent_scalar("tag:yaml.org,2002:float", str(v)))
    ManifestDumper.add_representer(tuple, lambda d, v: d.represent_list(v))
    ManifestDumper.add_multi_representer(Enum, lambda d, v: d.represent_str(v.value))
    return ManifestDumper


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@json_option
@click.pass_context
def lint(ctx: click.Context, paths: tuple[Path, ...], as_json: bool) -> None:
    """Check manifests (all, or the given files/folders); exit 1 if any problem."""
    from dataclasses import asdict

    if paths:
        missing = [p for p in paths if not p.exists()]
        if missing:
            raise click.BadParameter(f"{missing[0]} does not exist", param_hint="PATHS")
        catalog = load_catalog(files=manifest_files(paths))
    else:
        catalog = load_catalog(ctx.obj["manifest_dirs"])
    unmeasured = not_measured(catalog)
    if as_json:
        emit_json({"ok": not catalog.problems, "files": len(catalog.files), "models": len(catalog.models),
                   "problems": [asdict(p) for p in catalog.problems], "not_measured": unmeasured})
        ctx.exit(1 if catalog.problems else 0)
    for problem in catalog.problems:
        err.print(str(problem), markup=False, highlight=False)
    if unmeasured:
        shown = ", ".join(unmeasured[:5]) + (f" and {len(unmeasured) - 5} more" if len(unmeasured) > 5 else "")
        warning(f"{len(unmeasured)} model(s) not measured (params and MACs for the docs index): {shown}; "
                "run `zoo measure --missing` and commit measured.json")
    summary = f"{len(catalog.files)} file(s), {len(catalog.models)} model(s), {len(catalog.problems)} problem(s)"
    if catalog.problems:
        err.print(summary, markup=False)
        ctx.exit(1)
    out.print(summary, markup=False)


def not_measured(catalog: Catalog) -> list[str]:
    """Ids of the models whose folder's measured.json lacks them (or has another input size)."""
    from zoo.manifest.measured import measured_for

    return [m.id for m in catalog.models.values() if measured_for(m, catalog.families[m.family].file) is None]


@click.command()
def schema() -> None:
    """Print the JSON Schema of a manifest file (for editor completion)."""
    from zoo.manifest.schema import family_json_schema

    click.echo(json.dumps(family_json_schema(), indent=2))
