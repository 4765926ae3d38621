"""`zoo doctor` and `zoo install`: what this installation can do, and the one command that
gives it a source library (pip, then the `--no-deps` packages whose own pins conflict)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import click

from zoo import __version__
from zoo.sources.install import EXTRAS, install_commands
from zoo_cli.console import QUIET, emit_json, error, info, json_option, out, verbosity

#: Distributions worth a line, by the extra that installs them ("" = zoo's own dependencies).
TOOLS: dict[str, tuple[str, ...]] = {
    "": ("onnx", "onnxruntime", "onnxsim", "numpy", "matplotlib"),
    "torchvision": ("torch", "torchvision"),
    "timm": ("timm", "safetensors"),
    "mmcls": ("mmengine", "mmcv-lite", "mmpretrain"),
    "ppcls": ("paddlepaddle", "paddle2onnx", "paddleclas"),
    "dask": ("dask", "distributed", "s3fs"),
}
#: Seconds each mirror may take to answer.
PROBE_TIMEOUT = 3.0


@click.command()
@click.option("--offline", is_flag=True, help="Do not ask the weight hosts whether they answer.")
@click.option("--store", "store_dir", type=click.Path(path_type=Path), help="Artifact store folder to describe.")
@json_option
@click.pass_context
def doctor(ctx: click.Context, offline: bool, store_dir: Path | None, as_json: bool) -> None:
    """Versions of Python, zoo, each library and tool (and how to install a missing one), the torch
    build, the store, the remote and executor, and whether the weight hosts answer."""
    from zoo.manifest.catalog import load_catalog

    report = {
        "python": platform.python_version(),
        "zoo": __version__,
        "platform": platform.platform(terse=True),
        "packages": [_package(name, extra) for extra, names in TOOLS.items() for name in names],
        "torch": _torch_build(),
        "store": _store(store_dir),
        "remote": os.environ.get("ZOO_REMOTE"),
        "executor": os.environ.get("ZOO_EXECUTOR", "local"),
        "hosts": [] if offline else _probe(_hosts(load_catalog(ctx.obj["manifest_dirs"]).models.values())),
    }
    if as_json:
        emit_json(report)
        return
    _print(report)


def _package(name: str, extra: str) -> dict[str, Any]:
    try:
        version: str | None = metadata.version(name)
    except metadata.PackageNotFoundError:
        version = None
    return {"name": name, "version": version, "extra": extra or None,
            "install": None if version or not extra else f"zoo install {extra}"}


def _torch_build() -> str | None:
    """`cpu` or `cuda 12.4`, read from torch's `version.py` (importing torch takes seconds); None without torch."""
    import importlib.util
    import re

    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    source = Path(next(iter(spec.submodule_search_locations)), "version.py")
    found = re.search(r"^cuda[^=]*=\s*'([^']+)'", source.read_text(encoding="utf-8"), re.M) if source.is_file() else None
    return f"cuda {found.group(1)}" if found else "cpu"


def _store(store_dir: Path | None) -> dict[str, Any]:
    from zoo.store.local import default_root

    root = store_dir or default_root()
    size = files = 0
    for folder, _, names in os.walk(root):
        for name in names:
            with_size = Path(folder, name)
            if not with_size.is_symlink():
                size, files = size + with_size.stat().st_size, files + 1
    return {"path": str(root), "exists": root.is_dir(), "bytes": size, "files": files}


def _hosts(models: Any) -> list[str]:
    """`scheme://host` of every weight URL and mirror of the catalog (file URLs left out)."""
    from urllib.parse import urlsplit

    hosts: set[str] = set()
    for model in models:
        if model.weights is None:
            continue
        for url in (model.weights.url, *model.weights.mirrors):
            parts = urlsplit(str(url))
            if parts.scheme in ("http", "https") and parts.hostname:
                hosts.add(f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}")
    return sorted(hosts)


def _probe(hosts: list[str]) -> list[dict[str, Any]]:
    """Ask every host at once (HEAD /, PROBE_TIMEOUT each): any HTTP answer means it answers."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    def ask(host: str) -> dict[str, Any]:
        try:
            status = requests.head(host + "/", timeout=PROBE_TIMEOUT, allow_redirects=False).status_code
            return {"host": host, "answers": True, "detail": f"HTTP {status}"}
        except requests.RequestException as exc:
            return {"host": host, "answers": False, "detail": type(exc).__name__}

    with ThreadPoolExecutor(max_workers=min(16, len(hosts) or 1)) as pool:
        return list(pool.map(ask, hosts))


def _print(report: dict[str, Any]) -> None:
    from rich.table import Table

    out.print(f"zoo {report['zoo']}, Python {report['python']} on {report['platform']}", markup=False)
    table = Table(title="packages", title_justify="left")
    for column in ("package", "version", "extra", "to install"):
        table.add_column(column)
    for p in report["packages"]:
        table.add_row(p["name"], p["version"] or "[yellow]missing[/]", p["extra"] or "(core)", p["install"] or "")
    out.print(table)
    out.print(f"torch build: {report['torch'] or 'torch not installed'}", markup=False)
    store = report["store"]
    out.print(f"store: {store['path']} ({store['files']} files, {store['bytes'] / 1e6:.1f} MB)"
              if store["exists"] else f"store: {store['path']} (not created yet)", markup=False)
    out.print(f"remote: {report['remote'] or 'none ($ZOO_REMOTE or --remote)'}; executor: {report['executor']}",
              markup=False)
    for host in report["hosts"]:
        out.print(f"weights host {host['host']}: {'answers' if host['answers'] else 'does not answer'} "
                  f"({host['detail']})", markup=False)


@click.command()
@click.argument("extras", nargs=-1, required=True, type=click.Choice([*EXTRAS, "all"]))
@click.option("--dry-run", is_flag=True, help="Print the pip commands; run nothing.")
@click.pass_context
def install(ctx: click.Context, extras: tuple[str, ...], dry_run: bool) -> None:
    """Install what a source library needs into this Python: zoo's extra, then the packages that
    must come with --no-deps (mmpretrain, paddleclas)."""
    import shlex

    for command in install_commands(list(extras)):
        command += ["--quiet"] if verbosity() == QUIET else []
        shown = shlex.join(["python", *command[1:]])
        if dry_run:
            out.print(shown, markup=False)
            continue
        info(f"running: {shown}")
        if subprocess.run(command, check=False).returncode != 0:
            error(f"pip failed: {shown}; its messages are above")
            ctx.exit(1)
    if not dry_run:
        info(f"done; `zoo doctor` lists what is installed ({sys.executable})")
