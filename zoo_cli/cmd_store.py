"""`zoo store verify|gc`, `zoo push`, `zoo pull`: the local store, and what it shares with the remote tier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from zoo.store.remote import REMOTE_ENV
from zoo_cli.cmd_sync import _prepare, pipeline_options, store_option
from zoo_cli.console import err, out

remote_option = click.option("--remote", envvar=REMOTE_ENV, metavar="URL",
                             help=f"The shared remote cache (s3://bucket/prefix, file:///shared/folder; also ${REMOTE_ENV}).")


@click.group()
def store() -> None:
    """Check and clean the artifact store."""




@store.command()
@store_option
@click.option("--remote", envvar=REMOTE_ENV, metavar="URL", help="Check the remote cache's blobs instead.")
@click.pass_context
def verify(ctx: click.Context, store_dir: Path | None, remote: str | None) -> None:
    """Re-hash every blob; quarantine corrupt ones so the next sync recomputes them (exit 1 if any).

    With --remote, check the remote's blobs: a corrupt one is removed, so the next push replaces it.
    """
    from zoo.store.local import LocalStore

    if remote:
        ctx.exit(_verify_remote(remote))

    the_store = LocalStore(store_dir)
    if err.is_terminal:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TransferSpeedColumn,
        )

        total = sum(the_store.blobs.size(digest) for digest in the_store.blobs.digests())
        with Progress("verifying", BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=err,
                      transient=True) as bar:
            task = bar.add_task("verify", total=total)
            report = the_store.verify(on_blob=lambda size: bar.advance(task, size))
    else:
        report = the_store.verify()
    for digest in report.corrupt:
        err.print(f"corrupt blob {digest}: moved to {the_store.quarantine}", markup=False)
    for key in report.dropped_entries:
        err.print(f"dropped cache entry {key} (it named a corrupt or missing blob)", markup=False)
    out.print(f"{report.blobs} blob(s), {report.bytes / 1e6:.1f} MB checked; {len(report.corrupt)} corrupt, "
              f"{len(report.dropped_entries)} cache entr(ies) dropped", markup=False)
    if not report.ok:
        err.print("the next `zoo sync` recomputes what was dropped", markup=False)
        ctx.exit(1)


@store.command()
@store_option
@click.option("--out", "record_dirs", multiple=True, type=click.Path(path_type=Path),
              help="Output folder whose records' files are kept too (repeatable; default: ./out if present).")
@click.option("--dry-run", is_flag=True, help="Only report what would be removed.")
def gc(store_dir: Path | None, record_dirs: tuple[Path, ...], dry_run: bool) -> None:
    """Remove blobs and cache entries that neither the last sync of a model nor a record uses."""
    from zoo.pipeline.publish import kept_by_records
    from zoo.store.local import LocalStore

    the_store = LocalStore(store_dir)
    folders = list(record_dirs) or [p for p in [Path("out")] if p.is_dir()]
    keys, digests = kept_by_records(the_store, folders)
    report = the_store.gc(keys, digests, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    out.print(f"{verb} {report.removed_blobs} blob(s) ({report.freed_bytes / 1e6:.1f} MB), "
              f"{report.removed_entries} cache entr(ies), {report.removed_scratch} scratch item(s); "
              f"kept {report.kept_blobs} blob(s)", markup=False)


def _verify_remote(url: str) -> int:
    """Re-hash every remote blob, removing the corrupt ones; the exit status (1 if any was corrupt)."""
    from zoo.store.tiers import remote_at

    remote = remote_at(url)
    checked, corrupt = 0, []
    for digest in remote.digests():
        checked += 1
        if remote.blob_digest(digest) != digest:
            corrupt.append(digest)
            remote.remove_blob(digest)
            err.print(f"corrupt blob {digest} on {remote.label}: removed (the next push of it replaces it)",
                      markup=False)
    out.print(f"{remote.label}: {checked} blob(s) checked, {len(corrupt)} corrupt", markup=False)
    return 1 if corrupt else 0


@click.command()
@store_option
@remote_option
def push(store_dir: Path | None, remote: str | None) -> None:
    """Share every result the local store holds with the remote cache (blobs first, each entry last)."""
    from zoo.store.local import LocalStore
    from zoo.store.tiers import Tiered, remote_at

    if not remote:
        raise click.UsageError("name the remote: --remote URL (or $ZOO_REMOTE)")
    tier = Tiered(LocalStore(store_dir), remote_at(remote))
    entries = [entry for _, entry in tier.store.actions.entries() if entry is not None]
    created = sum(tier.push(entry) for entry in entries)
    out.print(f"{tier.remote.label}: {created} result(s) shared, {len(entries) - created} already there",
              markup=False)


@click.command()
@pipeline_options
@click.pass_context
def pull(ctx: click.Context, **params: Any) -> None:
    """Bring the results the selected models need from the remote cache into the local store."""
    from zoo.pipeline.plan import build_plan
    from zoo.store.tiers import Tiered, remote_at

    if not params["remote"]:
        raise click.UsageError("name the remote: --remote URL (or $ZOO_REMOTE)")
    models, store, options = _prepare(ctx, params)
    tier = Tiered(store, remote_at(params["remote"]))
    the_plan = build_plan(models, options, store, remote=tier.remote_entry)
    wanted = [node.key for node in the_plan.all_nodes() if node.on_remote and node.key is not None]
    for key in wanted:
        tier.lookup(key)
    missing = sum(node.will_run for node in the_plan.all_nodes())
    out.print(f"{tier.remote.label}: pulled {len(wanted)} result(s); {missing} step(s) the remote does not have",
              markup=False)
