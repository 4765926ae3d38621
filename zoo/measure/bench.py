"""CPU latency of an exported ONNX graph under ONNX Runtime, per batch size.

Each batch size gets its own session, a few untimed warm-up runs (first runs pay for memory
allocation and kernel selection), then `repeats` timed runs on a fixed random input; the
record keeps the median and the 90th percentile (linear interpolation) in milliseconds, the
thread count and a description of the machine, because CPU latency means nothing without them.

Batch sizes above 1 need a graph with a free batch axis. Graphs exported at batch 1 (the
upstream recipe) get one in a temporary in-memory copy (`zoo.measure.evaluate.open_session`); when the
graph has batch 1 built into its operators, those batch sizes are skipped with the reason,
and batch 1 is still measured.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.measure.evaluate import open_session

DEFAULT_BATCHES = (1, 4, 8)


def milliseconds(value: float) -> str:
    """The one way zoo prints a latency: two decimals, rounded half up from the recorded value
    (records keep three), so the CLI and the docs always print the same digits."""
    from decimal import ROUND_HALF_UP, Decimal

    return str(Decimal(repr(float(value))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Latency:
    """Milliseconds per run of one batch."""

    median: float
    p90: float
    runs: int


@dataclass
class BenchResult:
    """Latency per measured batch size, the sizes skipped and why, and the conditions."""

    latency: dict[int, Latency]
    skipped: dict[int, str]
    threads: int
    machine: str
    repeats: int
    warmup: int
    seconds: float
    notes: list[str] = field(default_factory=list)


def machine_description() -> str:
    """CPU model, logical cores, OS and ONNX Runtime version, e.g. for the docs' latency table."""
    import onnxruntime

    return f"{host_description()}, onnxruntime {onnxruntime.__version__}"


def host_description() -> str:
    """CPU model, logical cores and OS: what a latency depends on besides the software."""
    return f"{cpu_model()}, {os.cpu_count()} logical cores, {platform.system()} {platform.machine()}"


def cpu_model() -> str:
    """The CPU's marketing name (from /proc/cpuinfo on Linux, else what `platform` knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith(("model name", "hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def benchmark(
    onnx_path: Path,
    input_size: tuple[int, int, int],
    *,
    batches: tuple[int, ...] = DEFAULT_BATCHES,
    threads: int | None = None,
    repeats: int = 20,
    warmup: int = 3,
    progress: Any = None,
) -> BenchResult:
    """Time `onnx_path` on random inputs for each batch size; see the module docstring.

    `threads` is ONNX Runtime's intra-op thread count (default: every logical core, the count
    recorded). `progress`, if given, is called with 1 after each run (warm-up included).
    """
    import numpy as np

    threads = threads or os.cpu_count() or 1
    rng = np.random.default_rng(0)
    latency: dict[int, Latency] = {}
    skipped: dict[int, str] = {}
    notes: list[str] = []
    started = time.perf_counter()
    for batch in sorted(set(batches)):
        runner = open_session(onnx_path, input_size, batch=batch, threads=threads)
        if runner.batch != batch:
            skipped[batch] = runner.note or f"the graph does not accept batch {batch}"
            if progress:
                progress(warmup + repeats)
            continue
        inputs = rng.standard_normal((batch, *input_size), dtype=np.float32)
        for _ in range(warmup):
            runner.run(inputs)
            if progress:
                progress(1)
        times = []
        for _ in range(repeats):
            start = time.perf_counter_ns()
            runner.run(inputs)
            times.append((time.perf_counter_ns() - start) / 1e6)
            if progress:
                progress(1)
        latency[batch] = Latency(float(np.median(times)), float(np.percentile(times, 90)), repeats)
    if skipped:
        notes.append(next(iter(skipped.values())))
    return BenchResult(latency, skipped, threads, machine_description(), repeats, warmup,
                       time.perf_counter() - started, notes)
