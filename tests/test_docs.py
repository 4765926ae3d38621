"""`zoo docs`: pages from a small fixture zoo, measured vs reported, determinism, `--check`, templates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.import_probe import zoo_imports
from tests.readers import model_cell, one_row, rows_starting, section, table_rows
from zoo.docs import pages as docs
from zoo.errors import RenderError, ZooError
from zoo.manifest.catalog import load_catalog
from zoo.manifest.measured import Measured, write_measured
from zoo.pipeline.record import Record, StepRecord

MINI = """\
family: mini
title: Mini family
description: A fixture family that mixes both accuracy units.
paper: {title: "A paper about mini nets", url: "https://example.org/mini-paper"}
defaults:
  preprocess:
    crop_pct: 0.875
    mean: [0.485, 0.456, 0.406]
    std: [0.229, 0.224, 0.225]
models:
  - name: alpha
    title: Alpha
    source: {library: timm, version: "0.6.5", repo: "https://example.org/alpha.py"}
    input_size: 256
    expected: {top1: 79.582, top5: 94.704, unit: percent}
    reported:
      flops_g: 10.038
      params_m: 21.576
      latency:
        - {device: V100, precision: FP32, batch_ms: {1: 2.80, 4: 5.43, 8: 9.48}, note: "FP32, TensorRT-8.0.3.4."}
        - {device: T4, precision: FP32, batch_ms: {1: 1.44993, 4: 2.46696, 8: 3.72085}, note: "TensorRT."}
        - {device: T4, precision: FP16, batch_ms: {1: 1.06447, 4: 1.70435, 8: 2.38402}, note: "TensorRT."}
      notes: ["Alpha's FLOPs count two operations per multiply-accumulate."]
  - name: beta
    source: {library: ppcls}
    input_size: 224
    expected: {top1: 0.5720, unit: fraction}
    validate: {atol: 0.001, reason: "paddle2onnx rewrites GELU; logits differ by up to 4e-4."}
    reference: {top1: 0.575, top5: 0.800, unit: fraction}
    reported:
      params_m: 61.090
      latency:
        - {device: V100, precision: FP32, size: 288, batch_ms: {1: null, 4: null, 8: null}, note: "FP32, TensorRT-8.0.3.4."}
"""

SOLO = """\
family: solo
title: Solo family
models:
  - name: gamma
    source: {library: timm}
    input_size: [224, 320]
    preprocess: {crop_pct: 0.9, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}
    expected: {top1: 0.8203, top5: 0.9590, unit: fraction}
    reported: {flops_g: 4.458, params_m: 28.583}
"""

HEADER = ["Model", "Source", "Top-1", "Top-5", "Reference top-1", "Reference top-5", "FLOPs (G)", "Params (M)",
          "Input size", "Dataset"]


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "mini.yaml").write_text(MINI, encoding="utf-8")
    (folder / "solo.yaml").write_text(SOLO, encoding="utf-8")
    write_measured(folder / "measured.json", {"timm/alpha": Measured((3, 256, 256), 21_616_168, 4_565_013_760),
                                              "timm/gamma": Measured((3, 224, 320), 28_589_128, 6_240_000_000)})
    return folder


def catalog_of(folder: Path):  # type: ignore[no-untyped-def]
    catalog = load_catalog(files=sorted(folder.glob("*.yaml")))
    assert not catalog.problems, catalog.problems
    return catalog


def pages(folder: Path, records: dict[str, Record] | None = None, templates: Path | None = None) -> dict[str, str]:
    files = docs.generate(catalog_of(folder), records or {}, templates)
    return {name: content.decode("utf-8") for name, content in files.items() if name.endswith(".md")}


def measured_table(page: str) -> str:
    """The main table of "Measured by zoo" (without its CPU latency sub-section)."""
    return section(page, "## Measured by zoo").split("\n### ")[0]


def step(kind: str, status: str = "ran", **metrics: object) -> StepRecord:
    return StepRecord(kind=kind, key=kind * 4, status=status, metrics=metrics,  # type: ignore[arg-type]
                      tool_versions={"onnx": "1.17.0", "onnxruntime": "1.20.1"} if kind != "render" else {})


def alpha_record() -> Record:
    return Record(
        model_id="timm/alpha", manifest_digest="d" * 64, zoo_version="0.1.0", random_weights=False,
        steps={
            "convert": step("convert", params=21_576_232, input_name="input",
                            tool_versions={"torch": "2.14.1", "timm": "1.0.31"}),  # as a worker reports them
            "simplify": step("simplify", macs=5_123_456_789),
            "validate": step("validate", max_abs=1.5e-07, cosine=0.99999994, top1_agreement=1.0),
            "eval": step("eval", top1=79.1234, top5=94.5, images=500, preprocess="source",
                         deploy={"top1": 78.9012, "top5": 94.25}),
            "bench": step("bench", latency_ms={"1": {"median": 12.345, "p90": 13.5}, "8": {"median": 80.0, "p90": 88.25}},
                          machine="x86_64, 2 cores", threads=2),
            "render": step("render", approximations=["resize: bicubic is deployed as bilinear"],
                           files=["model_info_alpha.json", "timm-alpha-vdsp_params.json", "timm_alpha.yaml"]),
        },
    )


def beta_random_record() -> Record:
    return Record(
        model_id="ppcls/beta", manifest_digest="e" * 64, zoo_version="0.1.0", random_weights=True,
        steps={
            "convert": step("convert", params=61_100_840),
            "validate": step("validate", max_abs=2.5e-06, cosine=0.9999871, top1_agreement=1.0),
            "eval": step("eval", top1=0.1357, top5=0.5791, images=64, preprocess="source"),
        },
    )


# --------------------------------------------------------------------------------------------
# Page content


def test_models_table_prints_reported_numbers_exactly_in_column_order(manifests: Path) -> None:
    page = pages(manifests)["mini.md"]
    models = section(page, "## Models")
    assert table_rows(models)[0] == HEADER  # mixed units: the unit goes into a note instead
    assert one_row(models, model_cell("Alpha", "timm-alpha")) == [
        "[Alpha](#timm-alpha)", "[timm@0.6.5](https://example.org/alpha.py)", "79.582", "94.704", "-", "-",
        "10.038", "21.576", "256", "ImageNet-1k"]
    # 0.5720 keeps its trailing zero and stays a fraction; what the manifest omits is "-"
    assert one_row(models, model_cell("beta", "ppcls-beta")) == [
        "[beta](#ppcls-beta)", "ppcls", "0.5720", "-", "0.575", "0.800", "-", "61.090", "224", "ImageNet-1k"]
    assert "as a fraction of 1 (0.7725 = 77.25 %) for beta, beta reference; in percent for Alpha." in models
    assert "Paper: [A paper about mini nets](https://example.org/mini-paper)" in page
    assert "A fixture family that mixes both accuracy units." in page
    assert "- **Alpha**: Alpha's FLOPs count two operations per multiply-accumulate." in models
    assert ("- **beta**: validation thresholds: atol 0.001, rtol 0.001, top-1 agreement >= 1, because "
            "paddle2onnx rewrites GELU; logits differ by up to 4e-4.") in models


def test_single_unit_family_states_the_unit_in_the_headers(manifests: Path) -> None:
    models = section(pages(manifests)["solo.md"], "## Models")
    assert table_rows(models)[0][2:6] == [
        "Top-1 (fraction)", "Top-5 (fraction)", "Reference top-1 (fraction)", "Reference top-5 (fraction)"]
    row = one_row(models, model_cell("gamma", "timm-gamma"))
    assert row[2:4] == ["0.8203", "0.9590"]
    assert row[8] == "3x224x320"  # a non-square input is written in full
    assert "unit the source wrote" not in models


def test_latency_tables_follow_the_seed_layout(manifests: Path) -> None:
    page = pages(manifests)["mini.md"]
    v100 = section(page, "### V100")
    assert table_rows(v100)[0] == [
        "Model", "Size", "Latency (ms)<br>bs=1", "Latency (ms)<br>bs=4", "Latency (ms)<br>bs=8"]
    assert one_row(v100, "Alpha") == ["Alpha", "256", "2.80", "5.43", "9.48"]
    assert one_row(v100, "beta") == ["beta", "288", "-", "-", "-"]  # the table's own size; null is "-"
    assert "**Note:** FP32, TensorRT-8.0.3.4." in v100
    t4 = section(page, "### T4")
    header = table_rows(t4)[0]
    assert header[2:] == [f"Latency (ms)<br>{p}<br>bs={b}" for p in ("FP16", "FP32") for b in (1, 4, 8)]
    assert one_row(t4, "Alpha") == ["Alpha", "256", "1.06447", "1.70435", "2.38402", "1.44993", "2.46696", "3.72085"]
    assert rows_starting(t4, "beta") == []  # no T4 numbers for beta: no row, as in the seeds
    assert t4.count("**Note:** TensorRT.") == 1
    assert "No latency is reported for this family." in pages(manifests)["solo.md"]


def test_index_converts_accuracy_to_percent_and_links_the_plot(manifests: Path) -> None:
    index = pages(manifests)["index.md"]
    assert one_row(index, "`ppcls/beta`") == ["`ppcls/beta`", "[Mini family](mini.md)", "57.20", "-", "-", "224"]
    assert one_row(index, "`timm/alpha`") == ["`timm/alpha`", "[Mini family](mini.md)", "79.582", "4.565", "21.616", "256"]
    assert one_row(index, "`timm/gamma`")[2:5] == ["82.03", "6.240", "28.589"]
    assert "![classification: top-1 vs GMACs](top1-vs-gmacs-classification.svg)" in index


def test_index_ignores_a_measurement_at_another_input_size(manifests: Path) -> None:
    solo = manifests / "solo.yaml"
    solo.write_text(SOLO.replace("input_size: [224, 320]", "input_size: 224"), encoding="utf-8")
    assert one_row(pages(manifests)["index.md"], "`timm/gamma`")[3:5] == ["-", "-"]


def test_family_pages_keep_published_flops_and_say_what_they_count(manifests: Path) -> None:
    mini = manifests / "mini.yaml"
    mini.write_text(MINI.replace("      flops_g: 10.038\n", "      flops_g: 10.038\n      flops_convention: 2macs\n"),
                    encoding="utf-8")
    page = pages(manifests)["mini.md"]
    assert one_row(section(page, "## Models"), model_cell("Alpha", "timm-alpha"))[6] == "10.038"
    assert "they count 2 x multiply-accumulates." in page
    assert "they count a convention the source does not state." in pages(manifests)["solo.md"]


def test_deploy_section_gives_commands_per_model(manifests: Path) -> None:
    deploy = section(pages(manifests)["mini.md"], "## Deploy")
    alpha = section(deploy, "### Alpha (`timm/alpha`)")
    assert '<a id="timm-alpha"></a>' in deploy
    assert "zoo sync timm/alpha" in alpha
    assert "vamc compile " in alpha
    assert "alpha-int8-percentile-3_256_256-vacc/alpha --vdsp_params " in alpha
    assert "-i 8 -p 1 -b 16\n```" in alpha


# --------------------------------------------------------------------------------------------
# Measured numbers


def test_measured_numbers_are_separate_from_reported_ones(manifests: Path) -> None:
    page = pages(manifests, {"timm/alpha": alpha_record()})["mini.md"]
    reported, measured = section(page, "## Models"), section(page, "## Measured by zoo")
    assert one_row(reported, model_cell("Alpha", "timm-alpha"))[6:8] == ["10.038", "21.576"]
    assert one_row(measured_table(page), "Alpha") == [
        "Alpha", "21.576", "10.247", "1.50e-07", "1.000000", "100.0 %", "79.12", "94.50",
        "500 images, source preprocessing; deploy preprocessing: 78.90 / 94.25"]
    for number in ("10.247", "1.50e-07", "79.12"):
        assert number not in reported
    assert "From the `zoo sync` records of 1 of 2 models." in measured
    assert "Conv, ConvTranspose, Gemm, MatMul" in measured  # the counting is defined where it is used
    assert "- `timm/alpha`: onnx 1.17.0, onnxruntime 1.20.1, timm 1.0.31, torch 2.14.1, zoo 0.1.0" in measured
    assert one_row(section(measured, "### CPU latency (ONNX Runtime)"), "Alpha") == [
        "Alpha", "x86_64, 2 cores", "2", "12.35 (13.50)", "80.00 (88.25)"]
    assert "- **Alpha**: resize: bicubic is deployed as bilinear" in section(page, "### Deployment approximations")
    deploy = section(section(page, "## Deploy"), "### Alpha (`timm/alpha`)")
    assert "Generated files (`build_in` profile) in `out/timm-alpha/`:" in deploy
    assert "vamc compile timm_alpha.yaml\n" in deploy
    (manifests / "measured.json").unlink()  # without the committed counts, a record's count the index
    index = pages(manifests, {"timm/alpha": alpha_record()})["index.md"]
    assert one_row(index, "`timm/alpha`")[3:5] == ["5.123", "21.576"]  # GMACs = half the record's GFLOPs


def test_random_weights_never_show_accuracy(manifests: Path) -> None:
    generated = pages(manifests, {"ppcls/beta": beta_random_record(), "timm/alpha": alpha_record()})
    page = generated["mini.md"]
    assert one_row(measured_table(page), "beta") == [
        "beta", "61.101", "-", "2.50e-06", "0.999987", "100.0 %", "random weights", "random weights", "random weights"]
    for leaked in ("0.1357", "0.5791", "13.57", "57.91", "0.14 ", "0.58 "):  # as a fraction, in percent, rounded
        assert leaked not in page and leaked not in generated["index.md"]
    assert one_row(measured_table(page), "Alpha")[6] == "79.12"  # a real-weights record next to it still shows its accuracy


def test_deploy_commands_follow_the_profile_the_record_shows(manifests: Path) -> None:
    record = alpha_record()
    record.steps["render"] = step("render", approximations=[], files=[
        "model_info_alpha.json", "sdk1.0/timm-alpha-vdsp_params.json", "sdk1.0/timm_alpha.yaml",
        "vamp/timm-alpha-vdsp_params.json"])
    page = pages(manifests, {"timm/alpha": record})["mini.md"]
    deploy = section(section(page, "## Deploy"), "### Alpha (`timm/alpha`)")
    assert "Generated files (`sdk1` profile) in `out/timm-alpha/`:" in deploy
    assert "- `sdk1.0/timm_alpha.yaml`" in deploy
    assert "vamc build sdk1.0/timm_alpha.yaml\n" in deploy
    assert "--vdsp_params vamp/timm-alpha-vdsp_params.json -i 8 -p 1 -b 16" in deploy
    approximations = section(page, "### Deployment approximations")
    assert "**Alpha**" not in approximations  # its record rendered none ...
    assert "- **beta**: resize: the source resizes the shorter side to 256" in approximations  # ... beta has no record


def test_a_model_the_target_cannot_take_gets_the_reason_not_commands(manifests: Path) -> None:
    (manifests / "gray.yaml").write_text(
        "family: gray\ntitle: Gray\nmodels:\n  - name: mono\n    source: {library: timm}\n"
        "    input_size: [1, 64, 64]\n    preprocess: {crop_pct: 0.875, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}\n",
        encoding="utf-8")
    deploy = section(pages(manifests)["gray.md"], "## Deploy")
    assert "Not deployable as the manifest stands: timm/mono: input has 1 channel(s)" in deploy
    assert "vamc" not in deploy.split("### mono")[1] and "zoo sync timm/mono" in deploy


def test_failed_steps_say_so(manifests: Path) -> None:
    record = alpha_record()
    record.steps["validate"] = step("validate", status="failed")
    record.steps["validate"].error = "max abs error 0.3 > 1e-4"
    page = pages(manifests, {"timm/alpha": record})["mini.md"]
    assert one_row(measured_table(page), "Alpha")[3:6] == ["failed", "failed", "failed"]


def test_without_records_pages_say_how_to_get_measurements(manifests: Path) -> None:
    measured = section(pages(manifests)["mini.md"], "## Measured by zoo")
    assert "No model of this family has a sync record yet" in measured
    assert "|" not in measured


# --------------------------------------------------------------------------------------------
# Determinism, --check, writing (the CLI, as a user runs it)


def zoo(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "zoo_cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_generation_is_byte_identical_across_processes(manifests: Path, tmp_path: Path) -> None:
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / f"docs-{seed}"
        result = zoo("--manifests", str(manifests), "docs", "--out", str(out), "--records", str(tmp_path / "none"),
                     cwd=tmp_path, env={"PYTHONHASHSEED": seed})
        assert result.returncode == 0, result.stderr
        outputs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outputs[0] == outputs[1]
    assert {"mini.md", "solo.md", "index.md", "top1-vs-gmacs-classification.svg"} <= set(outputs[0])
    svg = outputs[0]["top1-vs-gmacs-classification.svg"].decode()
    assert "<dc:date>" not in svg and "timm/alpha" in svg and "ppcls/beta" not in svg  # beta is not measured
    assert '<!-- zoo-plot-data: [[' in svg and '["timm/alpha", "mini", 4.565014, 79.582]' in svg


def test_a_large_plot_labels_the_accuracy_frontier() -> None:
    points = [{"label": name, "x": x, "y": y} for name, x, y in
              [("a", 1.0, 70.0), ("b", 2.0, 69.0), ("c", 2.0, 75.0), ("d", 4.0, 74.0), ("e", 8.0, 80.0)]]
    assert [p["label"] for p in docs.frontier(points)] == ["a", "c", "e"]


def test_check_reports_stale_missing_and_extra_files(manifests: Path, tmp_path: Path) -> None:
    out = tmp_path / "docs"
    base = ("--manifests", str(manifests), "docs", "--out", str(out), "--records", str(tmp_path / "none"))
    assert zoo(*base, cwd=tmp_path).returncode == 0
    current = zoo(*base, "--check", cwd=tmp_path)
    assert current.returncode == 0, current.stderr
    assert "are current" in current.stdout

    mini = out / "mini.md"
    mini.write_text(mini.read_text(encoding="utf-8").replace("79.582", "79.58"), encoding="utf-8")
    (out / "solo.md").unlink()
    (out / "retired.md").write_text(docs.GENERATED_MARK + "\n# A family that is gone\n", encoding="utf-8")
    (out / "handwritten.md").write_text("# Notes by people\n", encoding="utf-8")
    plot = out / "top1-vs-gmacs-classification.svg"
    plot.write_bytes(plot.read_bytes().replace(b"timm/alpha", b"timm/alpah"))
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    stale = zoo(*base, "--check", cwd=tmp_path)
    assert stale.returncode == 1
    assert f"{out / 'mini.md'}: stale" in stale.stderr
    assert f"{out / 'solo.md'}: missing" in stale.stderr
    assert f"{out / 'retired.md'}: extra" in stale.stderr
    assert "handwritten.md" not in stale.stderr
    assert "-| [Alpha](#timm-alpha) | [timm@0.6.5](https://example.org/alpha.py) | 79.58 |" in stale.stderr
    assert "+| [Alpha](#timm-alpha) | [timm@0.6.5](https://example.org/alpha.py) | 79.582 |" in stale.stderr
    assert f"{plot}: stale" in stale.stderr and "the plot's data differs" in stale.stderr
    assert "4 file(s) out of date" in stale.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # --check writes nothing

    fixed = zoo(*base, cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    assert f"removed {out / 'retired.md'}" in fixed.stdout
    assert (out / "handwritten.md").exists() and (out / "solo.md").exists()
    assert zoo(*base, "--check", cwd=tmp_path).returncode == 0


def test_stale_diff_is_short(manifests: Path, tmp_path: Path) -> None:
    files = docs.generate(catalog_of(manifests), {})
    out = tmp_path / "docs"
    docs.write_docs(files, out)
    page = out / "mini.md"
    page.write_text("\n".join(f"line {i}" for i in range(200)), encoding="utf-8")
    (drift,) = docs.compare(files, out)
    assert drift.kind == "stale" and drift.path == "mini.md"
    assert len(drift.diff) == 21 and drift.diff[-1].startswith("... (")


def test_records_option_feeds_the_pages(manifests: Path, tmp_path: Path) -> None:
    records = tmp_path / "synced"
    alpha_record().write(records / "timm-alpha")
    beta_random_record().write(records / "ppcls-beta")
    Record(model_id="timm/unknown", manifest_digest="f" * 64, zoo_version="0.1.0",
           random_weights=False).write(records / "timm-unknown")
    result = zoo("--manifests", str(manifests), "docs", "--out", "docs", "--records", str(records), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "`timm/unknown` matches no model" in result.stderr
    page = (tmp_path / "docs" / "mini.md").read_text(encoding="utf-8")
    assert one_row(measured_table(page), "Alpha")[2] == "10.247"
    assert one_row(measured_table(page), "beta")[6] == "random weights"

    (records / "timm-alpha" / "record.json").write_text('{"model_id": 3}', encoding="utf-8")
    broken = zoo("--manifests", str(manifests), "docs", "--records", str(records), cwd=tmp_path)
    assert broken.returncode == 1
    assert "timm-alpha" in broken.stderr and "not a valid sync record" in broken.stderr
    assert "Traceback" not in broken.stderr


def test_broken_manifest_stops_docs_instead_of_dropping_pages(manifests: Path, tmp_path: Path) -> None:
    (manifests / "broken.yaml").write_text("family: broken\ntitle: B\nmodels:\n  - name: x\n    input_sise: 3\n",
                                           encoding="utf-8")
    result = zoo("--manifests", str(manifests), "docs", "--out", "docs", cwd=tmp_path)
    assert result.returncode == 1
    assert "broken.yaml:5" in result.stderr and "input_sise" in result.stderr
    assert not (tmp_path / "docs").exists()


def test_docs_imports_no_framework(manifests: Path, tmp_path: Path) -> None:
    result, imported = zoo_imports("--manifests", str(manifests), "docs", "--out", "docs", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert imported == []


# --------------------------------------------------------------------------------------------
# Templates


def test_user_templates_override_by_relative_path(manifests: Path, tmp_path: Path) -> None:
    user = tmp_path / "my-templates"
    (user / "docs").mkdir(parents=True)
    (user / "docs" / "index.md.j2").write_text(
        "{{ mark }}\n# Our zoo\n{% for r in rows %}\n* {{ r.id }}: {{ r.top1 }}\n{% endfor %}\n", encoding="utf-8")
    generated = pages(manifests, templates=user)
    assert generated["index.md"] == (f"{docs.GENERATED_MARK}\n# Our zoo\n* timm/alpha: 79.582\n* ppcls/beta: 57.20\n"
                                     "* timm/gamma: 82.03\n")
    assert "## Reported latency" in generated["mini.md"]  # not overridden: the shipped template

    result = zoo("--manifests", str(manifests), "docs", "--out", "docs", cwd=tmp_path, env={"ZOO_TEMPLATES": str(user)})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "docs" / "index.md").read_text(encoding="utf-8").splitlines()[1] == "# Our zoo"


def test_undefined_template_variable_is_a_located_error(manifests: Path, tmp_path: Path) -> None:
    user = tmp_path / "my-templates"
    (user / "docs").mkdir(parents=True)
    (user / "docs" / "family.md.j2").write_text("{{ mark }}\n# {{ title }}\n\n{{ familly_title }}\n", encoding="utf-8")
    with pytest.raises(RenderError) as raised:
        pages(manifests, templates=user)
    message = str(raised.value)
    assert f"{user / 'docs' / 'family.md.j2'}:4" in message
    assert "undefined variable `familly_title`" in message and "title" in message

    result = zoo("--manifests", str(manifests), "docs", "--out", "docs", "--templates", str(user), cwd=tmp_path)
    assert result.returncode == 1
    assert "familly_title" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "docs").exists()  # nothing half-written


def test_template_syntax_error_and_missing_folder(manifests: Path, tmp_path: Path) -> None:
    user = tmp_path / "my-templates"
    (user / "docs").mkdir(parents=True)
    (user / "docs" / "index.md.j2").write_text("{{ mark }}\n{% for r in rows %}\n", encoding="utf-8")
    with pytest.raises(RenderError, match="index.md.j2:2: template syntax error"):
        pages(manifests, templates=user)
    with pytest.raises(ZooError, match=r"does-not-exist \(--templates\) does not exist"):
        pages(manifests, templates=tmp_path / "does-not-exist")


def test_check_ignores_a_users_local_sync_records(manifests: Path, tmp_path: Path) -> None:
    """`zoo docs --check` in CI must not depend on an `out/` folder left by the user's own `zoo sync`."""
    base = ("--manifests", str(manifests), "docs", "--out", str(tmp_path / "docs"))
    assert zoo(*base, cwd=tmp_path).returncode == 0
    (tmp_path / "out" / "timm-alpha").mkdir(parents=True)
    (tmp_path / "out" / "timm-alpha" / "record.json").write_text("{not json", encoding="utf-8")
    result = zoo(*base, "--check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no sync records" in result.stdout


def test_deployed_accuracy_columns_appear_only_with_data(manifests: Path) -> None:
    assert "### Deployed accuracy" not in pages(manifests)["mini.md"]
    path = manifests / "mini.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "      flops_g: 10.038\n", "      flops_g: 10.038\n      deployed: {int8: {top1: 78.842, top5: 94.325}}\n"),
        encoding="utf-8")
    table = section(pages(manifests)["mini.md"], "### Deployed accuracy")
    assert table_rows(table)[0] == ["Model", "fp32", "int8 reported"]
    assert one_row(table, "Alpha") == ["Alpha", "79.582 / 94.704", "78.842 / 94.325"]
    assert rows_starting(table, "beta") == []  # no deployed numbers, no row
    alpha, beta = alpha_record(), beta_random_record()
    alpha.steps["deployed-int8"] = step("deployed-int8", top1=78.5, top5=94.1234, images=50000)
    alpha.steps["deployed-fp16"] = step("deployed-fp16", "failed")
    beta.steps["deployed-fp16"] = step("deployed-fp16", top1=0.1, top5=0.5, images=50)
    table = section(pages(manifests, {"timm/alpha": alpha, "ppcls/beta": beta})["mini.md"], "### Deployed accuracy")
    assert table_rows(table)[0] == ["Model", "fp32", "int8 reported", "int8 measured by zoo", "fp16 measured by zoo"]
    assert one_row(table, "Alpha") == ["Alpha", "79.582 / 94.704", "78.842 / 94.325", "78.50 / 94.12 (50000 images)",
                                       "failed"]
    assert one_row(table, "beta") == ["beta", "57.20 / -", "-", "-", "random weights"]


def test_family_page_lists_every_upstream_difference_with_its_verdict(manifests: Path) -> None:
    upstream = """\
    upstream:
      source: https://example.org/vmz/solo
      files: [build_in/vdsp_params/timm-gamma-vdsp_params.json]
      fields:
        - {file: build_in/vdsp_params/timm-gamma-vdsp_params.json, field: OpConfig.ResizeWidth, verdict: zoo right,
           upstream: 342, zoo: 341, why: timm gives zoo's value}
        - {file: build_in/vdsp_params/timm-gamma-vdsp_params.json, field: OpConfig.Mean, verdict: format,
           upstream: [0.5, 0.5, 0.5], zoo: [0.5, 0.5, 0.5]}
"""
    (manifests / "solo.yaml").write_text(SOLO + upstream, encoding="utf-8")
    page = pages(manifests)["solo.md"]
    listed = table_rows(section(page, "### Differences from the upstream deployment files"))
    assert listed[2:] == [
        ["gamma", "timm-gamma-vdsp_params.json", "OpConfig.ResizeWidth", "342", "341", "zoo right", "timm gives zoo's value"],
        ["gamma", "timm-gamma-vdsp_params.json", "OpConfig.Mean", "0.5, 0.5, 0.5", "0.5, 0.5, 0.5", "format", ""],
    ]
    assert "Differences from the upstream" not in pages(manifests)["mini.md"]


def test_check_compares_the_plots_data_not_the_drawing(manifests: Path, tmp_path: Path) -> None:
    """Another matplotlib draws other bytes from the same data: the plot is still current."""
    out = tmp_path / "docs"
    base = ("--manifests", str(manifests), "docs", "--out", str(out))
    assert zoo(*base, cwd=tmp_path).returncode == 0
    plot = out / "top1-vs-gmacs-classification.svg"
    redrawn = plot.read_bytes().replace(b'width="720pt"', b'width="721pt"').replace(b"Created with", b"Drawn by")
    assert redrawn != plot.read_bytes()
    plot.write_bytes(redrawn)
    assert zoo(*base, "--check", cwd=tmp_path).returncode == 0
