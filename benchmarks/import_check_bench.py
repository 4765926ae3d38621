"""`zoo check --all` and `zoo import` of 100 timm architectures, against bare scripts reading the same configs.

The baselines read the same configs directly with each library, in the same run and machine:
- check: timm's `get_pretrained_cfg` at the pinned 0.6.5 (the wheel zoo cached) and at the installed
  version, mmpretrain's `ModelHub.get` for the mmcls models, and paddleclas's backbones imported
  for their `MODEL_URLS`: one bare process each, timed together;
- import: one bare process calling `get_pretrained_cfg` on the same 100 architectures.
The first `zoo check --all` (untimed) fills the store's library cache (it needs the package index
once); the timed runs are warm, as a maintainer's are.

Run: .venv/bin/python benchmarks/import_check_bench.py [--repeats N] [--store DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench_support import timed

ROOT = Path(__file__).resolve().parent.parent
ZOO = [sys.executable, "-m", "zoo_cli"]
COUNT = 100

BARE_TIMM = "import sys\nfrom timm.models import get_pretrained_cfg\nfor a in sys.argv[1:]:\n    get_pretrained_cfg(a)\n"
BARE_MMPRETRAIN = "import sys\nfrom mmpretrain.apis import ModelHub\nfor a in sys.argv[1:]:\n    ModelHub.get(a)\n"
BARE_PADDLECLAS = "import sys\nfrom paddleclas.ppcls.arch import backbone\n" \
                  "urls = {k: v for m in list(sys.modules.values()) for k, v in (getattr(m, 'MODEL_URLS', None) or {}).items()}\n"
TIMM_NAMES = "import timm\nprint(' '.join(dict.fromkeys(n.split('.')[0] for n in timm.list_models(pretrained=True))))"


def median(run: Callable[[], float], repeats: int) -> float:
    return statistics.median(run() for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--store", type=Path, help="store whose library cache to use (default: a temporary one)")
    args = parser.parse_args()
    store = args.store or Path(tempfile.mkdtemp(prefix="zoo-bench-"))
    env = {**os.environ, "ZOO_HOME": str(store), "PYTHONPATH": str(ROOT)}
    check = [*ZOO, "check", "--all"]
    subprocess.run(check, cwd=ROOT, env=env, capture_output=True, check=False)  # warm the library cache
    rows = [("zoo check --all (shipped zoo)", median(lambda: timed(check, ROOT, env), args.repeats),
             median(lambda: _bare_check(store, env), args.repeats))]

    names = subprocess.run([sys.executable, "-c", TIMM_NAMES], capture_output=True, text=True, check=True,
                           env=env).stdout.split()[:COUNT]
    out = Path(tempfile.mkdtemp(prefix="zoo-bench-import-")) / "imported.yaml"
    imported = [*ZOO, "import", "timm", *names, "--into", str(out), "--dry-run"]
    rows.append((f"zoo import timm ({len(names)} archs, dry run)", median(lambda: timed(imported, ROOT, env),
                                                                        args.repeats),
                 median(lambda: timed([sys.executable, "-c", BARE_TIMM, *names], ROOT, env), args.repeats)))
    print(f"{'command':40} {'zoo s':>8} {'bare s':>8} {'ratio':>7}")
    for name, zoo_seconds, bare_seconds in rows:
        print(f"{name:40} {zoo_seconds:8.2f} {bare_seconds:8.2f} {zoo_seconds / bare_seconds:7.2f}")


def _bare_check(store: Path, env: dict[str, str]) -> float:
    """The same configs `zoo check --all` reads, read directly with each library (one process each)."""
    timm_archs = ["cspresnet50", "cspresnext50", "cspdarknet53"]
    pinned = {**env, "PYTHONPATH": os.pathsep.join([str(store / "libraries" / "timm-0.6.5"), env["PYTHONPATH"]])}
    mmcls = ["cspresnet50_3rdparty_8xb32_in1k", "cspresnext50_3rdparty_8xb32_in1k", "cspdarknet50_3rdparty_8xb32_in1k"]
    return (timed([sys.executable, "-c", BARE_TIMM, *timm_archs], ROOT, pinned)
            + timed([sys.executable, "-c", BARE_TIMM, *timm_archs], ROOT, env)
            + timed([sys.executable, "-c", BARE_MMPRETRAIN, *mmcls], ROOT, env)
            + timed([sys.executable, "-c", BARE_PADDLECLAS], ROOT, env))


if __name__ == "__main__":
    main()
