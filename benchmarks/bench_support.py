"""What the benchmark scripts share: timing a whole command."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    """Wall-clock seconds of one run of `argv`; a failing command ends the benchmark with its output."""
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"command failed ({done.returncode}): {' '.join(argv)}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds
