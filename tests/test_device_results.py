"""`zoo eval --results`: scoring the device's own results (VSX text, vamp output folders) to a known
accuracy, pairing vamp outputs by number, the errors for broken results, and the record."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.factories import LEVEL_CLASSES, make_model, run_zoo
from tests.readers import one_row, section
from zoo.errors import DatasetError
from zoo.measure.datasets import wnids
from zoo.measure.device import QUANTISATION_ALLOWANCE, TrueClasses, read_results, read_vamp
from zoo.measure.evaluate import TopK, compare
from zoo.pipeline.record import read_record

#: Outcome per image: 0 = top-1 hit, 1 = top-5 hit only, 2 = miss. 14 images: 6, 4 and 4.
OUTCOMES = (0, 1, 2, 0, 0, 1, 2, 0, 1, 0, 2, 2, 1, 0)
TOP1 = 100 * OUTCOMES.count(0) / len(OUTCOMES)  # 42.86
TOP5 = 100 * (OUTCOMES.count(0) + OUTCOMES.count(1)) / len(OUTCOMES)  # 71.43


def _label(index: int) -> int:
    return LEVEL_CLASSES[index % 5]


def _ranking(index: int) -> list[int]:
    """The device's five best classes for image `index`, giving it the outcome OUTCOMES[index]."""
    label, outcome = _label(index), OUTCOMES[index]
    others = [900, 901, 902, 903, 904]
    if outcome == 0:
        return [label, *others[:4]]
    if outcome == 1:
        return [*others[:3], label, others[3]]
    return others


def _image(index: int) -> str:
    return f"{wnids()[_label(index)]}/img_{index}.JPEG"


def _vsx_lines(index: int, root: str = "/data/val") -> list[str]:
    return [f"{root}/{_image(index)}: Relay top-{k} id: {c}, prob: {0.9 - 0.1 * k:.3f}, class name: thing {c}"
            for k, c in enumerate(_ranking(index))]


def _write_vsx(path: Path, lines: list[str] | None = None) -> Path:
    text = lines if lines is not None else [line for i in range(len(OUTCOMES)) for line in _vsx_lines(i)]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


def _write_vamp(root: Path, *, count: int = len(OUTCOMES), name: str = "output_{}.npz", key: str = "output_0",
                classes: int = 1000) -> tuple[Path, Path]:
    """An output folder (one file per image, numbered by datalist line) and the datalist `zoo npz` writes."""
    outputs = root / "outputs"
    outputs.mkdir(parents=True)
    datalist = root / "npz_datalist.txt"
    datalist.write_text("".join(f"{root / 'inputs' / _image(i).replace('.JPEG', '.npz')}\n" for i in range(count)),
                        encoding="utf-8")
    for index in range(count):
        logits = np.zeros((1, classes), np.float32)
        for rank, cls in enumerate(_ranking(index)):
            if cls < classes:
                logits[0, cls] = 10.0 - rank
        np.savez(outputs / name.format(index), **{key: logits})
    return outputs, datalist


# Known accuracy ---------------------------------------------------------------------------


def test_vsx_text_scores_the_known_accuracy(tmp_path: Path) -> None:
    results = read_results(_write_vsx(tmp_path / "result.txt"), datalist=None, labels=None, num_classes=1000)
    score = results.score()
    assert (results.format, score.images, score.top1, score.top5) == ("vsx", 14, pytest.approx(TOP1), pytest.approx(TOP5))


def test_vsx_text_with_a_label_file(tmp_path: Path) -> None:
    # images in one folder; the labels come from `<image> <label>` lines (an index or a WordNet id)
    lines = [line.replace(f"{wnids()[_label(i)]}/", "") for i in range(len(OUTCOMES)) for line in _vsx_lines(i)]
    labels = tmp_path / "val_label.txt"
    labels.write_text("".join(f"img_{i}.JPEG {_label(i) if i % 2 else wnids()[_label(i)]}\n"
                              for i in range(len(OUTCOMES))), encoding="utf-8")
    score = read_results(_write_vsx(tmp_path / "r.txt", lines), datalist=None, labels=labels, num_classes=1000).score()
    assert (score.top1, score.top5) == (pytest.approx(TOP1), pytest.approx(TOP5))


def test_vamp_outputs_pair_with_the_datalist_by_number_not_by_name_order(tmp_path: Path) -> None:
    outputs, datalist = _write_vamp(tmp_path)
    score = read_results(outputs, datalist=datalist, labels=None, num_classes=1000).score()
    assert (score.images, score.top1, score.top5) == (14, pytest.approx(TOP1), pytest.approx(TOP5))
    # upstream's pairing (sorted file names: output_0, output_1, output_10, ...) scores these files differently
    lexicographic = [int(p.stem.split("_")[1]) for p in sorted(outputs.iterdir())]
    hits = sum(_ranking(number)[0] == _label(line) for line, number in enumerate(lexicographic))
    assert 100 * hits / 14 != pytest.approx(TOP1)


def test_vamp_outputs_numbered_from_one_with_padding(tmp_path: Path) -> None:
    outputs, datalist = _write_vamp(tmp_path, name="{:06d}.npz")
    for path in sorted(outputs.iterdir(), reverse=True):  # renumber 0..13 -> 1..14
        path.rename(outputs / f"{int(path.stem) + 1:06d}.npz")
    score = read_vamp(outputs, datalist, TrueClasses(None, 1000)).score()
    assert (score.top1, score.top5) == (pytest.approx(TOP1), pytest.approx(TOP5))


# Broken results ---------------------------------------------------------------------------


def _error(results: Path, datalist: Path | None = None, labels: Path | None = None) -> str:
    with pytest.raises(DatasetError) as caught:
        read_results(results, datalist=datalist, labels=labels, num_classes=1000)
    return str(caught.value)


def test_malformed_vsx_line_names_file_and_line(tmp_path: Path) -> None:
    lines = [line for i in range(3) for line in _vsx_lines(i)]
    lines[7] = lines[7].replace("prob:", "probability")
    path = _write_vsx(tmp_path / "result.txt", lines)
    assert f"{path}:8: expected `<image path>: Relay top-<k>" in _error(path)


@pytest.mark.parametrize(("change", "line", "message"), [
    (lambda ls: ls[:3] + ls[5:], 1, "has 3 ranked classes before line 4 starts the next image"),
    (lambda ls: ls[:9], 6, "has 4 ranked classes before the file ends"),
    (lambda ls: ls[:2] + ls[3:], 3, "expected top-2 of"),
    (lambda ls: ls + ls[:5], 11, "appears again (first on line 1)"),
    (lambda ls: [ls[0].replace("id: 0,", "id: 1000,"), *ls[1:]], 1, "class id 1000 is outside the model's 0..999"),
])
def test_incomplete_or_repeated_vsx_results(tmp_path: Path, change: Callable[[list[str]], list[str]], line: int,
                                            message: str) -> None:
    lines = [line for i in range(2) for line in _vsx_lines(i)]
    path = _write_vsx(tmp_path / "result.txt", change(lines))
    error = _error(path)
    assert f"{path}:{line}:" in error and message in error


def test_vsx_image_outside_a_class_folder_needs_a_label_file(tmp_path: Path) -> None:
    path = _write_vsx(tmp_path / "r.txt", [line.replace(f"{wnids()[0]}/", "") for line in _vsx_lines(0)])
    assert "its folder 'val' is not an ImageNet-1k WordNet id (n01440764, ...); pass --labels FILE" in _error(path)


def test_missing_and_extra_vamp_outputs(tmp_path: Path) -> None:
    outputs, datalist = _write_vamp(tmp_path)
    (outputs / "output_5.npz").unlink()
    error = _error(outputs, datalist)
    assert f"{outputs} holds 13 numbered .npz outputs but {datalist} lists 14 inputs; no output numbered 5" in error
    np.savez(outputs / "output_5.npz", output_0=np.zeros(1000, np.float32))
    np.savez(outputs / "output_14.npz", output_0=np.zeros(1000, np.float32))
    assert "outputs 14 have no datalist line" in _error(outputs, datalist)


def test_datalist_longer_than_the_outputs(tmp_path: Path) -> None:
    outputs, datalist = _write_vamp(tmp_path)
    with datalist.open("a", encoding="utf-8") as handle:
        handle.write(f"{tmp_path}/inputs/{wnids()[0]}/late.npz\n")
    assert "lists 15 inputs; no output numbered 14" in _error(outputs, datalist)


def test_wrong_key_and_wrong_shape(tmp_path: Path) -> None:
    outputs, datalist = _write_vamp(tmp_path / "key", key="logits")
    assert "output_0.npz has no `output_0` array (keys: logits)" in _error(outputs, datalist)
    outputs, datalist = _write_vamp(tmp_path / "shape", classes=10)
    assert "`output_0` is float32 of shape [1, 10]; expected 1000 numbers" in _error(outputs, datalist)


def test_output_folder_without_datalist_or_numbers(tmp_path: Path) -> None:
    outputs, datalist = _write_vamp(tmp_path)
    assert "pass --datalist FILE" in _error(outputs)
    (outputs / "logits.npz").write_bytes((outputs / "output_0.npz").read_bytes())
    assert "logits.npz: no number in the name" in _error(outputs, datalist)


# Verdict ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("dtype", "passed"), [("int8", True), ("fp16", False)])
def test_the_allowance_is_added_to_the_sampling_tolerance(dtype: str, passed: bool) -> None:
    # the full validation set (tolerance 0.1) one point below an fp32 of 80: int8 allows 1.0 more, fp16 0.5
    model = make_model("timm", "m", num_classes=1000, dataset="ImageNet-1k",
                       expected={"top1": 80.0, "unit": "percent"})
    judged = compare(model, TopK(50_000, 39_500, 48_000), "device", random_weights=False,
                     allowance=QUANTISATION_ALLOWANCE[dtype])
    (check,) = judged.checks
    assert (check.measured, check.tolerance, judged.passed) == (79.0, pytest.approx(0.1 + (1.0 if passed else 0.5)),
                                                                passed)


# The command and the record ---------------------------------------------------------------


def test_device_accuracy_is_recorded_per_dtype(colours_workspace: Path) -> None:
    work = colours_workspace
    _write_vsx(work / "result.txt")
    outputs, datalist = _write_vamp(work / "vamp")
    int8 = run_zoo("eval", "onnx/colours", "--results", "result.txt", cwd=work)
    assert int8.returncode == 0, int8.stdout + int8.stderr
    assert f"14 images, top-1 {TOP1:.2f} %, top-5 {TOP5:.2f} %" in int8.stdout
    fp16 = run_zoo("eval", "onnx/colours", "--results", str(outputs), "--datalist", str(datalist), "--dtype", "fp16",
                   cwd=work)
    assert fp16.returncode == 0, fp16.stdout + fp16.stderr
    record = read_record(work / "out" / "onnx-colours")
    assert record is not None
    for kind, fmt in (("deployed-int8", "vsx"), ("deployed-fp16", "vamp")):
        metrics = record.steps[kind].metrics
        assert (metrics["top1"], metrics["top5"], metrics["images"], metrics["format"]) == (
            round(TOP1, 4), round(TOP5, 4), 14, fmt)
        assert metrics["passed"] is True  # 14 images: the sampling tolerance dwarfs the 10-point gap
    assert record.steps["deployed-fp16"].metrics["allowance"] == 0.5
    docs = run_zoo("docs", "--records", "out", "--out", "site", cwd=work)
    assert docs.returncode == 0, docs.stderr
    table = section((work / "site" / "fixture.md").read_text(encoding="utf-8"), "### Deployed accuracy")
    measured = f"{TOP1:.2f} / {TOP5:.2f} (14 images)"
    assert one_row(table, "colours") == ["colours", "52.381 / 90.476", measured, measured]
    # a later sync keeps both while the ONNX and the deploy files are unchanged
    again = run_zoo("sync", "onnx/colours", cwd=work)
    assert again.returncode == 0, again.stderr
    kept = read_record(work / "out" / "onnx-colours")
    assert kept is not None and {"deployed-int8", "deployed-fp16"} <= set(kept.steps)


def test_device_accuracy_far_from_expected_fails(colours_workspace: Path) -> None:
    misses = [f"/data/val/{_image(i)}: Relay top-{k} id: {900 + k}, prob: 0.1, class name: thing"
              for i in range(len(OUTCOMES)) for k in range(5)]
    _write_vsx(colours_workspace / "result.txt", misses)
    result = run_zoo("eval", "onnx/colours", "--results", "result.txt", cwd=colours_workspace)
    assert result.returncode == 1
    assert "top1 (int8 on the device, allowance 1 pt): measured 0.00, expected 52.38" in result.stdout
    record = read_record(colours_workspace / "out" / "onnx-colours")
    assert record is not None and record.steps["deployed-int8"].metrics["passed"] is False


def test_broken_results_are_one_message_without_traceback(colours_workspace: Path) -> None:
    _write_vsx(colours_workspace / "result.txt", _vsx_lines(0)[:4])
    result = run_zoo("eval", "onnx/colours", "--results", "result.txt", cwd=colours_workspace)
    assert result.returncode == 1
    assert "result.txt:1:" in result.stderr and "Traceback" not in result.stderr
    record = json.loads((colours_workspace / "out" / "onnx-colours" / "record.json").read_text())
    assert "deployed-int8" not in record["steps"]
