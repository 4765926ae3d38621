"""`zoo sync`, `zoo plan`, `zoo store verify|gc`: the pipeline and its store, from the shell.

`zoo plan` and a warm `zoo sync` read manifests, the action cache and package metadata
only, so neither imports a heavy framework; heavy steps import theirs inside worker processes.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from zoo.manifest.schema import Model
from zoo.pipeline.backends import EXECUTOR_ENV
from zoo.pipeline.steps.base import RunOptions, Step
from zoo.store.remote import REMOTE_ENV
from zoo_cli.cmd_catalog import catalog_from, complete_ids, select_options
from zoo_cli.console import VERBOSE, emit_json, err, json_option, out, verbosity

#: Exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


store_option = click.option("--store", "store_dir", type=click.Path(path_type=Path),
                             help="Artifact store folder (default: $ZOO_HOME or ~/.cache/zoo).")


def pipeline_options(fn: Any) -> Any:
    """Options shared by `zoo sync` and `zoo plan`: where things go and what steps see."""
    decorators: list[Callable[[Any], Any]] = [
        click.argument("patterns", nargs=-1, shell_complete=complete_ids),
        click.option("--all", "all_models", is_flag=True, help="Every model in the catalog."),
        select_options,
        click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("out"), show_default=True,
                     help="Output folder (one sub-folder per model)."),
        click.option("--store", "store_dir", type=click.Path(path_type=Path),
                     help="Artifact store folder (default: $ZOO_HOME or ~/.cache/zoo)."),
        click.option("--force", multiple=True, metavar="STEP",
                     help="Re-run this step kind even if cached (repeatable; `all` for every step)."),
        click.option("--random-weights", is_flag=True,
                     help="Seeded random init instead of fetched weights (labelled; never shown as accuracy)."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed for --random-weights."),
        click.option("--weights-from", multiple=True, metavar="DIR|URL",
                     help="Look for weight files here first (repeatable)."),
        click.option("--offline", is_flag=True, help="Never use the network; local files and mirrors only."),
        click.option("--require-pinned", is_flag=True, help="Refuse weights without a sha256 pin (`zoo lock`)."),
        click.option("--profile", default="build_in", show_default=True, help="Deploy file dialect to render."),
        click.option("--dtype", help="Override the manifest's deploy dtype (int8, fp16)."),
        click.option("--calib-dir", help="Calibration image folder written into the build YAML."),
        click.option("--templates", "templates_dir", type=click.Path(path_type=Path, file_okay=False),
                     help="Folder of templates overriding the shipped ones."),
        click.option("--remote", envvar=REMOTE_ENV, metavar="URL",
                     help=f"Shared remote cache (s3://bucket/prefix, file:///shared/folder; also ${REMOTE_ENV}): "
                          "look results up there, share new ones."),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def _prepare(ctx: click.Context, params: dict[str, Any]) -> tuple[list[Model], Any, RunOptions]:
    from zoo.store.local import LocalStore

    catalog = catalog_from(ctx)
    models = catalog.select(params["patterns"], all_models=params["all_models"], family=params["family"],
                            source=params["source"], tag=params["tag"])
    store = LocalStore(params["store_dir"])
    options = RunOptions(
        random_weights=params["random_weights"],
        seed=params["seed"],
        weights_from=tuple(params["weights_from"]),
        offline=params["offline"],
        require_pinned=params["require_pinned"],
        profile=params["profile"],
        dtype=params["dtype"],
        calib_dir=params["calib_dir"],
        templates_dir=str(params["templates_dir"].resolve()) if params["templates_dir"] else None,
    )
    return models, store, options


@click.command()
@pipeline_options
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.pass_context
def plan(ctx: click.Context, as_json: bool, **params: Any) -> None:
    """Show each model's steps and whether each is cached or why it will run."""
    from zoo.pipeline.plan import build_plan

    models, store, options = _prepare(ctx, params)
    the_plan = build_plan(models, options, store, force=params["force"], remote=remote_lookup(store, params["remote"]))
    if as_json:
        click.echo(json.dumps([
            {"model": n.model.id, "step": n.kind, "needs": list(n.needs), "key": n.key,
             "status": "run" if n.will_run else ("remote" if n.on_remote else "cached"), "reasons": n.reasons}
            for n in the_plan.all_nodes()
        ], indent=2))
        return
    from rich.text import Text

    labels = {id(n): n.kind + (f" <- {', '.join(n.needs)}" if n.needs else "") for n in the_plan.all_nodes()}
    width = max(map(len, labels.values()), default=0)
    text = Text()  # built without markup and printed once: thousands of lines stay fast
    for model in the_plan.models:
        text.append(model.id + "\n", style="bold")
        for node in the_plan.nodes[model.id]:
            text.append(f"  {labels[id(node)].ljust(width)}  ")
            if node.will_run:
                text.append("will run because:", style="yellow")
                text.append(f" {'; '.join(node.reasons)}\n")
            else:
                text.append("cached on the remote\n" if node.on_remote else "cached\n", style="green")
    out.print(text, end="")
    total = len(the_plan.all_nodes())
    cached = the_plan.cached_count
    out.print(f"{len(the_plan.models)} model(s), {total} step(s): {cached} cached, {total - cached} to run")


@click.command()
@pipeline_options
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Steps run at once (default: number of CPUs, at most 4).")
@click.option("--keep-going", is_flag=True,
              help="Start every model even after a failure (default: finish the models under way, start no new one).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one JSON object per event on stdout.")
@click.option("--executor", default="local", show_default=True, envvar=EXECUTOR_ENV, metavar="local|dask://HOST:PORT",
              callback=lambda ctx, param, value: _executor(value),
              help=f"Where steps run: this machine's threads and worker processes, or a Dask cluster "
                   f"(needs --remote; also ${EXECUTOR_ENV}).")
@json_option
@click.pass_context
def sync(ctx: click.Context, jobs: int | None, keep_going: bool, log_format: str, executor: str, as_json: bool,
         **params: Any) -> None:
    """Fetch, convert, simplify, validate and render models; cached steps are not redone."""
    import os

    models, store, options = _prepare(ctx, params)
    local_jobs = max(1, min(4, os.cpu_count() or 1)) if executor == "local" else None  # a cluster: its capacity
    code = sync_models(models, store=store, options=options, out_dir=params["out_dir"], jobs=jobs or local_jobs,
                       force=params["force"], keep_going=keep_going, log_format=log_format, debug=ctx.obj["debug"],
                       executor=executor, remote=params["remote"], as_json=as_json)
    ctx.exit(code)


def sync_models(
    models: Sequence[Model],
    *,
    store: Any,
    options: RunOptions,
    out_dir: Path,
    jobs: int | None,
    force: Sequence[str] = (),
    keep_going: bool = False,
    log_format: str = "text",
    debug: bool = False,
    steps: Sequence[Step] | None = None,
    executor: str = "local",
    remote: str | None = None,
    as_json: bool = False,
) -> int:
    """Plan and run; print progress and the summary; return the exit status (0 only if all succeeded)."""
    from zoo.pipeline.plan import build_plan
    from zoo.pipeline.scheduler import run_plan

    the_plan = build_plan(models, options, store, steps=steps, force=force, remote=remote_lookup(store, remote))
    show = reporter(log_format, the_plan)
    with getattr(show, "live", contextlib.nullcontext)():
        result = run_plan(the_plan, store, out_dir=out_dir, jobs=jobs, keep_going=keep_going, on_event=show,
                          executor=executor, remote=remote)
    from zoo_cli.sync_report import model_reports

    reports = model_reports(models, result.records, options)
    if as_json:
        emit_json(summary_document(result, reports))
    else:
        _summary(result, reports, log_format, debug)
    if result.interrupted:
        return EXIT_INTERRUPTED
    return 0 if result.ok else 1


def _executor(value: str) -> str:
    """`local` or `dask://HOST:PORT`, checked before any work starts."""
    import re

    if value == "local" or re.fullmatch(r"dask://[^\s/:]+:\d+", value):
        return value
    raise click.BadParameter(f"{value!r} is neither 'local' nor dask://HOST:PORT (a Dask scheduler's address)")


def remote_lookup(store: Any, url: str | None) -> Any:
    """How a plan asks the remote tier for a key (None without a remote). An unreachable remote is
    said once; the plan then counts on the local store alone (the run shares results later)."""
    if not url:
        return None
    from zoo.errors import RemoteError
    from zoo.store.tiers import Tiered, remote_at

    ask = Tiered(store, remote_at(url)).remote_entry
    told: list[str] = []

    def lookup(key: str) -> Any:
        try:
            return ask(key)
        except RemoteError as exc:
            if not told:
                told.append(str(exc))
                err.print(f"warning: {exc}; planning with the local store only", markup=False, highlight=False)
            return None

    return lookup


def reporter(log_format: str, the_plan: Any) -> Callable[[Any], None]:
    if log_format == "json":
        return _JsonLog()
    if verbosity() < 0:
        return lambda event: None
    if err.is_terminal:
        return _LiveProgress(len(the_plan.all_nodes()))
    return _TextLog()


class _JsonLog:
    """One JSON object per event on stdout (progress ticks are for live displays only)."""

    def __call__(self, event: Any) -> None:
        if event.event != "step_progress":
            _print_json(event.as_dict())


def _print_json(payload: dict[str, Any]) -> None:
    """One line of JSON on stdout, stamped with the wall-clock time."""
    from zoo.redaction import redact_data

    sys.stdout.write(json.dumps({"time": round(time.time(), 3), **redact_data(payload)}) + "\n")
    sys.stdout.flush()


class _TextLog:
    """Plain lines on stderr, for logs and pipes: one when a step starts, one when it ends."""

    def __init__(self) -> None:
        self.done = 0
        self.total = 0

    def __call__(self, event: Any) -> None:
        line = _describe(event, self)
        cached = event.event == "step_finished" and event.status == "cached"
        if line and (not cached or verbosity() >= VERBOSE):
            err.print(line, markup=False, highlight=False)


def _describe(event: Any, counter: Any) -> str | None:
    kind = event.event
    if kind == "run_started":
        counter.total = event.total
        return None
    if kind == "run_waiting" or kind == "interrupted":
        return event.message
    if kind == "step_started":
        return f"{event.model} {event.step}: running ({event.message})"
    if kind == "step_waiting":
        return f"{event.model} {event.step}: waiting ({event.message})"
    if kind == "step_note":
        return f"{event.model} {event.step}: {event.message}"
    if kind == "step_finished":
        counter.done += 1
        timing = f" in {event.seconds:.1f} s" if event.status in ("ran", "failed") else ""
        why = f": {event.message}" if event.message else ""
        return f"[{counter.done}/{counter.total}] {event.model} {event.step}: {event.status}{timing}{why}"
    return None


class _LiveProgress:
    """A rich display on a terminal: an overall bar plus a spinner per running step."""

    def __init__(self, total: int):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.text import Text

        class Count(MofNCompleteColumn):
            """"3/8" on the overall bar, nothing on a running step's line."""

            def render(self, task: Any) -> Text:
                return Text("") if task.total is None else super().render(task)

        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), Count(),
                                 TimeElapsedColumn(), console=err, transient=True)
        self.overall = self.progress.add_task("steps", total=total)
        self.running: dict[tuple[str, str], Any] = {}
        self.done = 0
        self.total = total

    def live(self) -> Any:
        return self.progress

    def __call__(self, event: Any) -> None:
        key = (event.model, event.step)
        if event.event in ("step_started", "step_waiting"):
            label = f"  {event.model} {event.step}" + (" (waiting for another process)" if
                                                        event.event == "step_waiting" else "")
            if key in self.running:
                self.progress.update(self.running[key], description=label)
            else:
                self.running[key] = self.progress.add_task(label, total=None)
            return
        if event.event == "step_progress":
            if key not in self.running:  # e.g. a result coming down from the remote cache
                self.running[key] = self.progress.add_task(f"  {event.model} {event.step}: {event.message}")
            self.progress.update(self.running[key], total=event.total, completed=event.completed)
            return
        if event.event == "step_finished":
            self.progress.advance(self.overall)
            task = self.running.pop(key, None)
            if task is not None:
                self.progress.remove_task(task)
        line = _describe(event, self)
        if line and (event.event != "step_finished" or event.status != "cached"):
            self.progress.console.print(line, markup=False, highlight=False)


def summary_document(result: Any, reports: Sequence[Any]) -> dict[str, Any]:
    """The run's result as data: `zoo sync --json`, and the last event of `--log-format json`."""
    counts: dict[str, int] = {}
    for outcome in result.outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    rows = [{"model": o.model_id, "step": o.kind, "status": o.status, "seconds": round(o.seconds, 3),
             "cache_hit": o.status == "cached", "error": o.error} for o in result.outcomes]
    return {"ok": result.ok, "interrupted": result.interrupted, "nothing_done": result.nothing_done,
            "counts": counts, "steps": rows, "models": [r.as_dict() for r in reports],
            "publish_errors": result.publish_errors}


def _summary(result: Any, reports: Sequence[Any], log_format: str, debug: bool) -> None:
    if log_format == "json":
        _print_json({"event": "summary", **summary_document(result, reports)})
        return
    from zoo_cli.sync_report import print_reports

    _step_table(result)
    for o in result.outcomes:
        if o.status == "failed":
            err.print(f"[bold red]{o.model_id} {o.kind} failed:[/] {_escape(o.error or '')}")
            if debug and o.detail:
                err.print(o.detail, markup=False, highlight=False)
    for model_id, message in result.publish_errors.items():
        err.print(f"[bold red]{model_id} not published:[/] {_escape(message)}")
    print_reports(reports, out)
    if result.interrupted:
        err.print("interrupted: finished steps are kept; run the same command again to resume", markup=False)
    elif result.nothing_done:
        out.print(f"nothing to do: {len(result.outcomes)} steps cached", markup=False)
    else:
        counts = summary_document(result, ())["counts"]
        out.print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())), markup=False)


def _step_table(result: Any) -> None:
    """The steps that did something (every step with -v); cached ones are the quiet norm."""
    from rich.table import Table

    shown = [o for o in result.outcomes if verbosity() >= VERBOSE or o.status != "cached"]
    if not shown:
        return
    table = Table(title="sync summary", title_justify="left")
    for column in ("model", "step", "status", "time", "cache hit"):
        table.add_column(column, justify="right" if column == "time" else "left")
    style = {"ran": "green", "cached": "cyan", "failed": "bold red", "skipped": "yellow"}
    for o in shown:
        seconds = f"{o.seconds:.1f} s" if o.status in ("ran", "failed") else "-"
        table.add_row(o.model_id, o.kind, f"[{style[o.status]}]{o.status}[/]", seconds,
                      "yes" if o.status == "cached" else "no")
    out.print(table)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


# ------------------------------------------------------------------------------- store
