"""Simplify an exported graph with onnxsim at the model's input shape — bounded in time, honest in outcome.

onnxsim runs in a child process (`python -m zoo.measure.simplify RAW OUT SPEC`) with a timeout:
it is C++ underneath and can hang or crash on unusual graphs, and neither may take the
worker down with it. If it fails or runs too long, the raw graph is kept *as is* and the
outcome says why; an unchanged copy is never reported as simplified.

Shapes: a static model is simplified with its input fixed to [1, C, H, W]
(`overwrite_input_shapes`, which also pins a source graph that left the batch open). A
model whose manifest asks for `deploy.dynamic_batch` keeps its dynamic batch axis; onnxsim
gets the manifest shape only as a test shape (`test_input_shapes`), so the deliverable
still accepts any batch.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from zoo.atomic import atomic_path
from zoo.errors import StepError
from zoo.onnxfile import read_metadata, set_metadata

#: Linux prctl option: the signal a process gets when its parent dies.
_PR_SET_PDEATHSIG = 1
#: Seconds onnxsim may take before the raw graph is kept instead (env ZOO_SIMPLIFY_TIMEOUT overrides).
DEFAULT_TIMEOUT = 600.0
TIMEOUT_ENV = "ZOO_SIMPLIFY_TIMEOUT"


def timeout_from_environment() -> float:
    """$ZOO_SIMPLIFY_TIMEOUT in seconds, else `DEFAULT_TIMEOUT`; anything but a positive number is a `StepError`."""
    raw = os.environ.get(TIMEOUT_ENV, "")
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise StepError(f"${TIMEOUT_ENV}={raw!r} is not a positive number of seconds; set it to e.g. {DEFAULT_TIMEOUT:g}")
    return seconds


@dataclass(frozen=True)
class SimplifyOutcome:
    """What happened: whether `path` holds onnxsim's graph, why not, and node counts before/after."""

    path: Path
    simplified: bool
    reason: str
    nodes_before: int
    nodes_after: int


def simplify(
    raw: Path,
    out: Path,
    *,
    input_name: str,
    input_shape: list[int],
    dynamic_batch: bool,
    timeout: float | None = None,
) -> SimplifyOutcome:
    """Write onnxsim's version of `raw` to `out`, or a copy of `raw` with the reason it is not simplified."""
    import onnx

    limit = timeout if timeout is not None else timeout_from_environment()
    raw_proto = onnx.load(str(raw))
    nodes_before = len(raw_proto.graph.node)
    spec = {"input": input_name, "shape": input_shape, "dynamic_batch": dynamic_batch}
    reason = ""
    with atomic_path(out) as tmp:
        reason = _run_child(raw, tmp, spec, limit)
        if not reason:
            candidate = onnx.load(str(tmp))
            if candidate.graph.SerializeToString() == raw_proto.graph.SerializeToString():
                reason = "onnxsim left the graph unchanged"
            else:
                _keep_metadata(raw, candidate)
                onnx.save(candidate, str(tmp))
        if reason:
            shutil.copyfile(raw, tmp)
        nodes_after = len(onnx.load(str(tmp), load_external_data=False).graph.node)
    return SimplifyOutcome(out, not reason, reason, nodes_before, nodes_after)


def _run_child(raw: Path, target: Path, spec: dict[str, object], limit: float) -> str:
    """Run onnxsim in a child process; return '' on success, else why it did not produce a graph."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "zoo.measure.simplify", str(raw), str(target), json.dumps(spec), str(os.getpid())]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit, env=env, check=False)
    except subprocess.TimeoutExpired:
        return f"onnxsim did not finish within {limit:g} s (raise ZOO_SIMPLIFY_TIMEOUT to wait longer)"
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit code {done.returncode}"
        return f"onnxsim failed: {detail}"
    return ""


def _keep_metadata(raw: Path, proto: object) -> None:
    """Carry the converter's metadata (model id, params, weights origin) over to the simplified graph."""
    set_metadata(proto, read_metadata(raw))


def _die_with(parent: int) -> None:
    """Ask Linux to kill this process when `parent` goes (even by kill -9), so no onnxsim runs orphaned."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the parent's timeout still bounds the child
        return
    if os.getppid() != parent:  # the parent died before the request was in place
        os._exit(1)


def _child(raw: str, target: str, spec_json: str, parent: str) -> None:
    """Child-process body: simplify `raw` and save it to `target` (raises on failure)."""
    _die_with(int(parent))
    # onnxsim's package imports torch for optional quantization tools it never uses here; keeping
    # torch out saves ~1.5 s and ~500 MB per simplification.
    sys.modules.setdefault("torch", None)  # type: ignore[arg-type]
    import onnx
    import onnxsim

    spec = json.loads(spec_json)
    shapes = {spec["input"]: spec["shape"]}
    if spec["dynamic_batch"]:
        simplified, _ = onnxsim.simplify(raw, test_input_shapes=shapes)
    else:
        simplified, _ = onnxsim.simplify(raw, overwrite_input_shapes=shapes)
    onnx.save(simplified, target)


if __name__ == "__main__":
    _child(*sys.argv[1:5])
