"""Run the `zoo` command in a fresh interpreter and report which heavy modules it imported.

Light commands (list, show, lint, schema, render, plan, docs) must never pull in a framework;
this is how the tests check it, the same way for every command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

#: Modules no light command may import.
HEAVY = ("torch", "torchvision", "timm", "paddle", "mmpretrain", "onnx", "onnxruntime", "onnxsim")
_MARK = "ZOO-IMPORTED "

_PROBE = f"""
import json, runpy, sys
watch = json.loads(sys.argv[1])
sys.argv = ['zoo'] + sys.argv[2:]
try:
    runpy.run_module('zoo_cli', run_name='__main__')
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print({_MARK!r} + json.dumps([m for m in watch if m in sys.modules]), file=sys.stderr)
sys.exit(code)
"""


def zoo_imports(
    *args: str,
    watch: Sequence[str] = HEAVY,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run `zoo ARGS`; return the finished process and which of `watch` it had imported."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(list(watch)), *args],
        capture_output=True, text=True, timeout=300, cwd=cwd, env={**os.environ, **(env or {})}, check=False,
    )
    marks = [line for line in result.stderr.splitlines() if line.startswith(_MARK)]
    assert marks, f"the probe did not report: {result.stderr[-800:]}"
    return result, json.loads(marks[-1][len(_MARK):])
