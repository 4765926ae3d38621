"""`zoo bench`: latency per batch size recorded with the machine, on real ONNX Runtime sessions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.factories import colour_classifier, run_zoo, synced_workspace
from zoo.measure.bench import benchmark, cpu_model, machine_description
from zoo.pipeline.record import read_record


def test_bench_records_latency_per_batch(colours_workspace: Path) -> None:
    folder = colours_workspace / "out" / "onnx-colours"
    before = read_record(folder)
    result = run_zoo("bench", "onnx/colours", "--batch", "1,2,8", "--repeats", "7", "--threads", "1",
                     cwd=colours_workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    record = read_record(folder)
    assert record is not None and before is not None
    step = record.steps["bench"]
    latency = step.metrics["latency_ms"]
    assert sorted(latency, key=int) == ["1", "2", "8"]
    for values in latency.values():
        assert 0 < values["median"] <= values["p90"]
    assert step.metrics["threads"] == 1 and step.metrics["repeats"] == 7
    assert cpu_model() in step.metrics["machine"] and "onnxruntime" in step.metrics["machine"]
    assert step.metrics["skipped"] == {}
    assert {k: v for k, v in record.steps.items() if k != "bench"} == before.steps
    assert "median ms" in result.stdout


def test_graph_with_batch_built_in_measures_batch_one_only(tmp_path: Path) -> None:
    graph = colour_classifier(tmp_path / "baked.onnx", baked_batch=True)
    result = benchmark(graph, (3, 32, 32), batches=(1, 4), repeats=3, warmup=1)
    assert set(result.latency) == {1} and set(result.skipped) == {4}
    assert "batch size 1 built into its graph" in result.skipped[4]
    free = benchmark(colour_classifier(tmp_path / "free.onnx"), (3, 32, 32), batches=(4, 1), repeats=3, warmup=0)
    assert set(free.latency) == {1, 4} and free.latency[4].runs == 3


def test_skipped_batches_are_reported_by_the_command(tmp_path: Path) -> None:
    work = synced_workspace(tmp_path, baked_batch=True)
    result = run_zoo("bench", "onnx/colours", "--batch", "1,4", "--repeats", "3", cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "batch 4 skipped" in result.stderr
    step = read_record(work / "out" / "onnx-colours").steps["bench"]  # type: ignore[union-attr]
    assert list(step.metrics["latency_ms"]) == ["1"] and "4" in step.metrics["skipped"]


def test_machine_description_names_the_cpu() -> None:
    description = machine_description()
    assert f"{os.cpu_count()} logical cores" in description
    if Path("/proc/cpuinfo").exists():
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        assert not names or names[0] in description


@pytest.mark.parametrize("value", ["0", "1,x", ""])
def test_bad_batch_lists_are_usage_errors(colours_workspace: Path, value: str) -> None:
    result = run_zoo("bench", "onnx/colours", "--batch", value, cwd=colours_workspace)
    assert result.returncode == 2 and "batch sizes" in result.stderr and "Traceback" not in result.stderr
