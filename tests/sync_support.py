"""Small real steps, a tiny manifest and a command-line runner for the store, plan and scheduler tests.

The steps do real file work (hash, concatenate, write sub-folders) and leave a marker line
each time they really run, so tests can tell "ran" from "cached" without trusting the
pipeline. What a step does is chosen by the model's name, so one run can mix behaviours:
`slow` sleeps $ZOO_TEST_SLEEP seconds in `build`, `crash` calls os._exit(137), `kill`
sends itself SIGKILL, `fail` raises a StepError, `bug` raises a ValueError.

The runner (`python tests/sync_support.py ...`) drives `zoo_cli.cmd_sync.sync_models` with
these steps in a fresh process, for tests that kill, interrupt or race whole processes.
`Measure` is an opt-in step (like eval): a test adds it to a plan.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from zoo.errors import StepError
from zoo.manifest.catalog import load_catalog
from zoo.manifest.schema import Model
from zoo.pipeline.steps.base import RunOptions, Step, StepInputs, StepResult

MARKERS_ENV = "ZOO_TEST_MARKERS"
SLEEP_ENV = "ZOO_TEST_SLEEP"
#: A distribution that is not installed unless a test creates its metadata.
TEST_TOOL = "zoo-test-tool"
ROOT = Path(__file__).resolve().parent.parent


def manifest(names: list[str], *, weights_url: str | None = None, size: int = 32, extra: str = "") -> str:
    """A family manifest with one timm model per name (weights from `weights_url` if given)."""
    lines = [
        "family: tiny",
        "title: Tiny test family",
        "defaults:",
        "  source: {library: timm}",
        f"  input_size: {size}",
        "  preprocess: {crop_pct: 0.875, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}",
        "  expected: {top1: 70.5, unit: percent}",
    ]
    if weights_url:
        lines.append(f"  weights: {{url: '{weights_url}', format: pth}}")
    if extra:
        lines.append(extra.rstrip())
    lines.append("models:")
    lines += [f"  - name: {name}" for name in names]
    return "\n".join(lines) + "\n"


def write_manifest(folder: Path, names: list[str], **kwargs: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.yaml"
    path.write_text(manifest(names, **kwargs), encoding="utf-8")
    return path


def load_models(path: Path) -> list[Model]:
    catalog = load_catalog(files=[path])
    assert not catalog.problems, catalog.problems
    return sorted(catalog.models.values(), key=lambda m: m.id)


# ----------------------------------------------------------------------------- markers
def _mark(kind: str, model: Model, event: str) -> None:
    folder = os.environ.get(MARKERS_ENV)
    if folder:
        with open(Path(folder) / f"{model.stem}.{kind}.log", "a", encoding="utf-8") as handle:
            handle.write(f"{event} {time.time():.6f} {os.getpid()}\n")


def marks(folder: Path, stem: str, kind: str, event: str = "end") -> list[tuple[float, int]]:
    """(time, pid) of every `event` line a step left for a model."""
    path = folder / f"{stem}.{kind}.log"
    if not path.exists():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        name, stamp, pid = line.split()
        if name == event:
            found.append((float(stamp), int(pid)))
    return found


# ------------------------------------------------------------------------------- steps
class Source(Step):
    """Light: writes the fields it reads to a file (the model's "source")."""

    kind = "source"
    tools = (TEST_TOOL,)

    def fields(self, model: Model, options: RunOptions) -> dict[str, Any]:
        return {"name": model.name, "input_size": model.input_size, "seed": options.seed}

    def run(self, model: Model, inputs: StepInputs, workdir: Path, options: RunOptions) -> StepResult:
        _mark(self.kind, model, "start")
        path = workdir / f"{model.stem}.src.txt"
        path.write_text(f"{model.name} {list(model.input_size)} seed={options.seed}\n", encoding="utf-8")
        _mark(self.kind, model, "end")
        return StepResult(outputs={"src": path}, metrics={"chars": path.stat().st_size})


class Build(Step):
    """Heavy (worker process): concatenates its inputs; misbehaves as the model's name says."""

    kind = "build"
    heavy = True
    needs = ("fetch", "source")

    def fields(self, model: Model, options: RunOptions) -> dict[str, Any]:
        return {"mean": model.preprocess.mean}

    def run(self, model: Model, inputs: StepInputs, workdir: Path, options: RunOptions) -> StepResult:
        _mark(self.kind, model, "start")
        if "crash" in model.name:
            os._exit(137)
        if "kill" in model.name:
            os.kill(os.getpid(), signal.SIGKILL)
        if "fail" in model.name:
            raise StepError(f"{model.id}: told to fail")
        if "bug" in model.name:
            raise ValueError("a bug in the step")
        if "slow" in model.name:
            time.sleep(float(os.environ.get(SLEEP_ENV, "1")))
        path = workdir / f"{model.stem}.built.txt"
        parts = [inputs[name].read_bytes() for name in sorted(inputs)]
        path.write_bytes(b"".join(parts) + f"mean={list(model.preprocess.mean)}\n".encode())
        _mark(self.kind, model, "end")
        return StepResult(outputs={"built": path}, metrics={"bytes": path.stat().st_size, "inputs": sorted(inputs)},
                          warnings=["built by a test step"])


class Measure(Step):
    """Opt-in, light: measures the built file, as `zoo eval` measures an ONNX file."""

    kind = "measure"
    opt_in = True
    needs = ("build",)

    def fields(self, model: Model, options: RunOptions) -> dict[str, Any]:
        return {"unit": "bytes"}

    def run(self, model: Model, inputs: StepInputs, workdir: Path, options: RunOptions) -> StepResult:
        _mark(self.kind, model, "start")
        size = inputs["built"].stat().st_size
        path = workdir / f"{model.stem}.measured.txt"
        path.write_text(f"{size} bytes\n", encoding="utf-8")
        _mark(self.kind, model, "end")
        return StepResult(outputs={"measured": path}, metrics={"bytes": size})


class Publish(Step):
    """Light: writes a file into a sub-folder of the output (paths relative to the work folder)."""

    kind = "publish"
    needs = ("build",)

    def fields(self, model: Model, options: RunOptions) -> dict[str, Any]:
        return {"profile": options.profile}

    def run(self, model: Model, inputs: StepInputs, workdir: Path, options: RunOptions) -> StepResult:
        _mark(self.kind, model, "start")
        path = workdir / "deploy" / f"{model.stem}.{options.profile}.txt"
        path.parent.mkdir()
        built = inputs["built"]
        path.write_text(f"{built.name} {inputs.metrics['build']['bytes']}\n", encoding="utf-8")
        _mark(self.kind, model, "end")
        return StepResult(outputs={"deploy": path})


def make_steps(*, fetch: bool = False) -> list[Step]:
    steps: list[Step] = [Source(), Build(), Publish()]
    if fetch:
        from zoo.pipeline.steps.fetch import FetchStep

        steps.insert(0, FetchStep())
    return steps


# ------------------------------------------------------------------------------ runner
def run_sync(args: list[str], env: dict[str, str], *, wait: bool = True, timeout: float = 120) -> Any:
    """Start the runner in a new process (returns CompletedProcess, or the Popen if not `wait`)."""
    argv = [sys.executable, str(Path(__file__).resolve()), *args]
    full_env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    if not wait:
        return subprocess.Popen(argv, env=full_env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(argv, env=full_env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


def main(argv: list[str] | None = None) -> int:
    from zoo.store.local import LocalStore
    from zoo_cli.cmd_sync import sync_models

    parser = argparse.ArgumentParser(description="Sync test models with the test steps.")
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("-j", "--jobs", type=int, default=1)
    parser.add_argument("--fetch", action="store_true", help="Put the real fetch step first.")
    parser.add_argument("--keep-going", action="store_true")
    parser.add_argument("--log-format", default="text")
    parser.add_argument("models", nargs="*")
    args = parser.parse_args(argv)
    store = LocalStore(args.store)
    models = [m for m in load_models(args.manifest) if not args.models or m.name in args.models]
    return sync_models(models, store=store, options=RunOptions(), out_dir=args.out, jobs=args.jobs,
                       keep_going=args.keep_going, log_format=args.log_format, steps=make_steps(fetch=args.fetch))


if __name__ == "__main__":
    import sync_support  # the steps must be pickled under their importable name, not __main__

    sys.exit(sync_support.main())
