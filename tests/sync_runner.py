"""The test steps of `tests.factories` run by `zoo_cli.cmd_sync.sync_models` in a fresh process,
for tests that kill, interrupt or race whole processes: `python -m tests.sync_runner ...`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.factories import ROOT, load_models, make_steps
from zoo.pipeline.steps.base import RunOptions


def run_sync(args: list[str], env: dict[str, str], *, wait: bool = True, timeout: float = 120) -> Any:
    """Start the runner in a new process (returns CompletedProcess, or the Popen if not `wait`)."""
    argv = [sys.executable, "-m", "tests.sync_runner", *args]
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
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
    models = [m for m in load_models(args.manifest).values() if not args.models or m.name in args.models]
    return sync_models(models, store=store, options=RunOptions(), out_dir=args.out, jobs=args.jobs,
                       keep_going=args.keep_going, log_format=args.log_format, steps=make_steps(fetch=args.fetch))


if __name__ == "__main__":
    sys.exit(main())
