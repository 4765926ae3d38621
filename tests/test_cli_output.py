"""What the `zoo` command prints: the sync report (warnings once, grouped; parity; files; next
commands), `-q`/`-v` on every command, and the `--json` documents README's "Machine-readable
output" section promises. The real command runs in a subprocess on the tinylib plugin's model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.factories import PLUGIN, ROOT, run_zoo, tinylib_workspace

ENV = {"ZOO_SOURCES": PLUGIN, "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A tinylib workspace after one real `zoo sync`, with what it printed (stdout, stderr)."""
    root = tinylib_workspace(tmp_path_factory.mktemp("output"))
    first = run_zoo("sync", "tinylib/tiny8", cwd=root, env=ENV)
    assert first.returncode == 0, first.stderr
    return root, first.stdout, first.stderr


def test_sync_reports_each_models_warnings_parity_and_next_commands(synced: tuple[Path, str, str]) -> None:
    _, stdout, _ = synced
    report = stdout[stdout.index("tinylib/tiny8 -> out/tinylib-tiny8/"):]
    assert report.count("is not pinned") == 1 and "  weights: tiny8.npz is not pinned" in report
    assert "  deploy: int8 calibration folder `ILSVRC2012_img_calib` is a placeholder" in report
    assert "  approximation: resize: the source resizes the shorter side to 36" in report
    assert "  parity (ONNX Runtime vs source): max abs error " in report and "top-1 agreement 100.0 %" in report
    assert "next: zoo calib --data TRAIN_DIR --out calib/" in report
    assert "next: cd out/tinylib-tiny8 && vamc compile tinylib_tiny8.yaml" in report
    assert "next: zoo eval tinylib/tiny8 --data VAL_DIR" in report
    assert (synced[0] / "out" / "tinylib-tiny8" / "tinylib_tiny8.yaml").is_file()  # the file the command names


def test_a_warm_sync_reports_again_and_hides_cached_steps_unless_verbose(synced: tuple[Path, str, str]) -> None:
    root, _, _ = synced
    warm = run_zoo("sync", "tinylib/tiny8", cwd=root, env=ENV)
    assert "nothing to do: 5 steps cached" in warm.stdout and "is not pinned" in warm.stdout
    assert "sync summary" not in warm.stdout and "convert: cached" not in warm.stderr
    verbose = run_zoo("sync", "tinylib/tiny8", "-v", cwd=root, env=ENV)
    assert "sync summary" in verbose.stdout and "tinylib/tiny8 convert: cached" in verbose.stderr


def test_sync_json_is_one_document_and_quiet_prints_nothing_else(synced: tuple[Path, str, str]) -> None:
    root, _, _ = synced
    result = run_zoo("sync", "tinylib/tiny8", "--json", "-q", cwd=root, env=ENV)
    assert result.returncode == 0 and result.stderr == ""
    document = json.loads(result.stdout)
    assert set(document) == {"ok", "interrupted", "nothing_done", "counts", "steps", "models", "publish_errors"}
    (model,) = document["models"]
    assert set(model) == {"model", "folder", "random_weights", "warnings", "approximations", "parity", "files", "next"}
    assert model["parity"]["top1_agreement"] == 1.0 and "tinylib-tiny8.onnx" in model["files"]
    assert "tiny8.npz" not in model["files"]  # the weights stay in the store
    assert list(model["warnings"]) == ["weights", "deploy"]


def test_random_weights_are_said_and_point_to_a_real_sync(synced: tuple[Path, str, str]) -> None:
    root, _, _ = synced
    result = run_zoo("sync", "tinylib/tiny8", "--random-weights", "--calib-dir", "calib", "--json", cwd=root, env=ENV)
    (model,) = json.loads(result.stdout)["models"]
    assert model["random_weights"] and model["warnings"]["weights"][0].startswith("random weights (seed 0)")
    assert "deploy" not in model["warnings"] and not any("zoo calib" in c for c in model["next"])
    assert model["next"][-1].startswith("zoo sync tinylib/tiny8   # real weights")


@pytest.mark.parametrize("command, keys", [
    (["lint"], {"ok", "files", "models", "problems", "not_measured"}),
    (["render", "--all"], {"ok", "profile", "out", "seconds", "models", "failures"}),
    (["docs", "--out", "site"], {"ok", "check", "out", "files", "written", "unchanged", "removed"}),
    (["check", "--all", "--offline"], {"ok", "checked", "unchecked", "unsupported", "notes", "disagreements"}),
])
def test_json_documents_have_their_documented_keys(tmp_path: Path, command: list[str], keys: set[str]) -> None:
    root = tinylib_workspace(tmp_path)
    result = run_zoo(*command, "--json", cwd=root, env=ENV)
    assert set(json.loads(result.stdout)) == keys, result.stderr


def test_quiet_and_verbose_are_taken_by_every_command_before_or_after_its_name(tmp_path: Path) -> None:
    root = tinylib_workspace(tmp_path)
    for args in (["lint", "-q"], ["-q", "lint"], ["render", "--all", "--quiet"]):
        result = run_zoo(*args, cwd=root, env=ENV)
        assert result.returncode == 0 and result.stdout == "" and result.stderr == "", args
    loud = run_zoo("render", "--all", cwd=root, env=ENV)
    assert "warning: tinylib/tiny8: approximation" in loud.stderr
    assert run_zoo("store", "gc", "--help", cwd=root).stdout.count("-q, --quiet") == 1


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_use_the_zoo_protocol(tmp_path: Path, shell: str) -> None:
    result = run_zoo("completion", shell, cwd=tmp_path)
    assert result.returncode == 0 and "_ZOO_COMPLETE" in result.stdout


def test_completion_offers_model_ids_and_commands(tmp_path: Path) -> None:
    root = tinylib_workspace(tmp_path)

    def complete(words: str) -> list[str]:
        env = {**ENV, "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1), "_ZOO_COMPLETE": "bash_complete"}
        return [line.split(",", 1)[1] for line in run_zoo(cwd=root, env=env).stdout.splitlines()]

    assert complete("zoo --manifests manifests sync tiny") == ["tinylib/tiny8"]
    assert complete("zoo --manifests manifests eval timm/cspresn") == ["timm/cspresnet50", "timm/cspresnext50"]
    assert complete("zoo --manifests manifests doc") == ["docs", "doctor"]


def test_eval_and_bench_json_carry_the_steps_metrics(colours_workspace: Path) -> None:
    evaluated = run_zoo("eval", "onnx/colours", "--data", "data/folders", "--json", "-q", cwd=colours_workspace)
    document = json.loads(evaluated.stdout)
    assert set(document) == {"model", "onnx", "metrics", "warnings", "record"} and evaluated.stderr == ""
    assert document["metrics"]["top1"] > 0 and document["record"].endswith("record.json")
    benched = run_zoo("bench", "onnx/colours", "--batch", "1", "--repeats", "2", "--json", cwd=colours_workspace)
    latency = json.loads(benched.stdout)["metrics"]["latency_ms"]["1"]
    assert latency["median"] > 0 and benched.returncode == 0
