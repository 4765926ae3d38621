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
from typing import Any

from zoo.atomic import atomic_path
from zoo.errors import StepError
from zoo.onnxfile import set_metadata

#: Linux prctl option: the signal a process gets when its parent dies.
_PR_SET_PDEATHSIG = 1
#: Seconds onnxsim may take before the raw graph is kept instead (env ZOO_SIMPLIFY_TIMEOUT overrides).
DEFAULT_TIMEOUT = 600.0
TIMEOUT_ENV = "ZOO_SIMPLIFY_TIMEOUT"
#: Why a graph onnxsim gave back as it was is not called simplified.
UNCHANGED = "onnxsim left the graph unchanged"


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
    """Write onnxsim's version of `raw` to `out`, or a copy of `raw` with the reason it is not simplified.

    The child does all the work on the graph (it holds both versions in memory anyway): it
    simplifies, carries the converter's metadata over, tells whether anything changed, writes the
    file and reports the node counts, so this process never parses the (large) graph at all.
    """
    limit = timeout if timeout is not None else timeout_from_environment()
    spec = {"input": input_name, "shape": input_shape, "dynamic_batch": dynamic_batch}
    with atomic_path(out) as tmp:
        counts, reason = _run_child(raw, tmp, spec, limit)
        if reason:
            shutil.copyfile(raw, tmp)
            before = _node_count(raw)
            counts = {"before": before, "after": before}
    return SimplifyOutcome(out, not reason, reason, counts["before"], counts["after"])


def _run_child(raw: Path, target: Path, spec: dict[str, object], limit: float) -> tuple[dict[str, int], str]:
    """Run onnxsim in a child process: (node counts, '') when it wrote a simplified graph, else ({}, why not)."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "zoo.measure.simplify", str(raw), str(target), json.dumps(spec), str(os.getpid())]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit, env=env, check=False)
    except subprocess.TimeoutExpired:
        return {}, f"onnxsim did not finish within {limit:g} s (raise {TIMEOUT_ENV} to wait longer)"
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit code {done.returncode}"
        return {}, f"onnxsim failed: {detail}"
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    return counts, UNCHANGED if counts["unchanged"] else ""


def _node_count(path: Path) -> int:
    import onnx

    return len(onnx.load(str(path), load_external_data=False).graph.node)


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


def _onnxsim_simplifier() -> Any:
    """onnxsim's `simplify`, imported without the rest of its package.

    onnxsim 0.8's package `__init__` imports some sixty quantization modules (one of them torch)
    that simplification never uses; importing only its simplifier module saves about a second per
    model. If that layout ever changes, the whole package is imported as usual.
    """
    import importlib
    import importlib.util
    import types

    sys.modules.setdefault("torch", None)  # type: ignore[arg-type]  # optional there, never needed here
    spec = importlib.util.find_spec("onnxsim")
    if spec is not None and spec.submodule_search_locations is not None and "onnxsim" not in sys.modules:
        package = types.ModuleType("onnxsim")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["onnxsim"] = package
        try:
            return importlib.import_module("onnxsim.onnx_simplifier").simplify
        except (ImportError, AttributeError):
            del sys.modules["onnxsim"]
    return importlib.import_module("onnxsim").simplify


def _child(raw: str, target: str, spec_json: str, parent: str) -> None:
    """Child-process body: simplify `raw`, keep its metadata, save to `target`, print the node counts as JSON."""
    _die_with(int(parent))
    import onnx

    simplify_graph = _onnxsim_simplifier()
    spec = json.loads(spec_json)
    shapes = {spec["input"]: spec["shape"]}
    original = onnx.load(raw)
    working = onnx.ModelProto()
    working.CopyFrom(original)  # onnxsim may edit the model it is given
    shape_option = "test_input_shapes" if spec["dynamic_batch"] else "overwrite_input_shapes"
    simplified, _ = simplify_graph(working, **{shape_option: shapes})
    unchanged = simplified.graph.SerializeToString() == original.graph.SerializeToString()
    set_metadata(simplified, {p.key: p.value for p in original.metadata_props})
    onnx.save(simplified, target)
    print(json.dumps({"before": len(original.graph.node), "after": len(simplified.graph.node),
                      "unchanged": unchanged}))


if __name__ == "__main__":
    _child(*sys.argv[1:5])
