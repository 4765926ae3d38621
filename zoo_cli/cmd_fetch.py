"""`zoo lock` and `zoo fetch`: pin weights by their sha256, or fetch them on their own.

Downloads land in the store's download area (`$ZOO_HOME/downloads`, or `--store DIR`) under
`<first 16 hex digits of the sha256>/<file name>`, the place the sync's fetch step looks,
so that a `zoo sync` after `zoo lock` or `zoo fetch` does not download the file again.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from zoo.errors import FetchError
from zoo.pipeline.steps.fetch import download_path
from zoo_cli.cmd_catalog import catalog_from, complete_ids, select_options
from zoo_cli.console import emit_json, error, out, warning
from zoo_cli.progress import fetch_display


def _fetch_options(fn: Any) -> Any:
    """Where weights may come from; shared by `lock` and `fetch`."""
    for option in reversed((
        click.option("--all", "all_models", is_flag=True, help="Every model in the catalog."),
        select_options,
        click.option("--weights-from", multiple=True, metavar="DIR|URL",
                     help="Look for the file name here first (repeatable)."),
        click.option("--offline", is_flag=True, help="Never use the network; local files and mirrors only."),
        click.option("--store", "store_dir", type=click.Path(path_type=Path),
                     help="Store folder holding the download cache (default: $ZOO_HOME or ~/.cache/zoo)."),
    )):
        fn = option(fn)
    return fn


def _copy_out(source: Path, sha256: str, dest: Path) -> Path:
    """Put a verified download at `dest` (a copy, atomically), unless `dest` already holds it."""
    import shutil

    from zoo.atomic import atomic_path
    from zoo.store.blobs import sha256_file

    if not (dest.is_file() and sha256_file(dest)[0] == sha256):
        with atomic_path(dest) as tmp:
            shutil.copyfile(source, tmp)
    return dest


def _downloads(store_dir: Path | None) -> Path:
    from zoo.store.local import LocalStore

    return LocalStore(store_dir).downloads


@click.command()
@click.argument("patterns", nargs=-1, shell_complete=complete_ids)
@_fetch_options
@click.option("--force", is_flag=True, help="Download again and re-pin models already pinned by a lock file.")
@click.pass_context
def lock(ctx: click.Context, patterns: tuple[str, ...], all_models: bool, family: str | None, source: str | None,
         tag: str | None, weights_from: tuple[str, ...], offline: bool, store_dir: Path | None, force: bool) -> None:
    """Pin weights: download unpinned files and record sha256 + size in `<manifest>.lock.yaml`.

    The lock file sits beside the manifest and is merged into it when the catalog loads; the
    manifest itself is never rewritten. A pin counts only while its URL equals the manifest's.
    """
    from zoo.manifest.lockfile import Pin, lock_path, read_pins, write_pins
    from zoo.redaction import redact
    from zoo.store.fetch.download import fetch

    catalog = catalog_from(ctx)
    models = catalog.select(patterns, all_models=all_models, family=family, source=source, tag=tag)
    downloads = _downloads(store_dir)
    failed = 0
    for model in models:
        weights = model.weights
        if weights is None:
            out.print(f"{model.id}: no weights in the manifest (random init only); nothing to pin", markup=False)
            continue
        manifest = catalog.families[model.family].file
        lock_file = lock_path(manifest)
        pins, _, _ = read_pins(lock_file)
        old = pins.get(model.id)
        by_lock = old is not None and redact(old.url) == redact(weights.url) and old.sha256 == weights.sha256
        if weights.sha256 and not by_lock:
            out.print(f"{model.id}: pinned in {manifest.name} itself; edit the manifest to change it", markup=False)
            continue
        if weights.sha256 and not force:
            out.print(f"{model.id}: already pinned (sha256 {weights.sha256[:16]}…); --force re-pins", markup=False)
            continue
        staging = download_path(downloads, weights, hashlib.sha256(weights.url.encode("utf-8")).hexdigest())
        try:
            with fetch_display(staging.name) as progress:
                result = fetch(weights.url, staging, size=None if by_lock else weights.size,
                               hash_prefix=weights.hash_prefix, mirrors=(*weights_from, *weights.mirrors),
                               offline=offline, progress=progress)
        except FetchError as exc:
            error(f"{model.id}: {exc}")
            failed += 1
            continue
        cached = download_path(downloads, weights, result.sha256)
        cached.parent.mkdir(parents=True, exist_ok=True)
        os.replace(result.path, cached)
        pins[model.id] = Pin(weights.url, result.sha256, result.size)
        write_pins(lock_file, pins, manifest.name)  # at once: an interrupted --all keeps what it pinned
        change = "unchanged" if old is not None and old.sha256 == result.sha256 else "pinned"
        out.print(f"{model.id}: {change} sha256 {result.sha256}, {result.size} bytes ({redact(weights.url)}) "
                  f"in {lock_file}", markup=False)
    if failed:
        error(f"{failed} of {len(models)} model(s) could not be pinned")
        ctx.exit(1)


@click.command("fetch")
@click.argument("patterns", nargs=-1, shell_complete=complete_ids)
@_fetch_options
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Put the files here (default: the store's download cache).")
@click.option("--require-pinned", is_flag=True, help="Refuse weights without a sha256 pin (`zoo lock`).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
@click.pass_context
def fetch_weights(ctx: click.Context, patterns: tuple[str, ...], all_models: bool, family: str | None,
                  source: str | None, tag: str | None, weights_from: tuple[str, ...], offline: bool,
                  store_dir: Path | None, out_dir: Path | None, require_pinned: bool, as_json: bool) -> None:
    """Fetch models' weights only (verified against their pins); print path, sha256 and size."""
    from zoo.store.fetch.download import fetch

    catalog = catalog_from(ctx)
    models = catalog.select(patterns, all_models=all_models, family=family, source=source, tag=tag)
    results: list[dict[str, Any]] = []
    failed = 0
    for model in models:
        weights = model.weights
        if weights is None:
            warning(f"{model.id}: no weights in the manifest (random init only); skipped")
            continue
        # the download, its lock and any partial file stay in the store; --out gets a finished copy
        dest = download_path(_downloads(store_dir), weights)
        try:
            with fetch_display(dest.name) as progress:
                result = fetch(weights.url, dest, sha256=weights.sha256, size=weights.size,
                               hash_prefix=weights.hash_prefix, mirrors=(*weights_from, *weights.mirrors),
                               offline=offline, require_pinned=require_pinned, progress=progress)
        except FetchError as exc:
            error(f"{model.id}: {exc}")
            failed += 1
            continue
        if out_dir:
            result = replace(result, path=_copy_out(result.path, result.sha256, out_dir / weights.filename))
        if not weights.sha256:
            warning(f"{model.id} is not pinned; `zoo lock {model.id}` records sha256 {result.sha256}")
        results.append({"id": model.id, "path": str(result.path), "sha256": result.sha256, "size": result.size,
                        "source": result.source_url, "pinned": weights.sha256 is not None})
        if not as_json:
            out.print(f"{result.path}  sha256 {result.sha256}  {result.size} bytes", markup=False)
    if as_json:
        emit_json(results)
    if failed:
        ctx.exit(1)
