"""`zoo eval`: exact accuracy of a classifier built to known outcomes, the tolerance rule, the
record, the prediction files, the deploy pipeline and its comparison with the source pipeline."""

from __future__ import annotations

import json
import shutil
import warnings
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.factories import (
    LEVEL_CLASSES,
    MEAN,
    STD,
    colour_classifier,
    require,
    run_zoo,
    scenario,
    scenario_accuracy,
    synced_workspace,
)
from zoo.deploy.builders import build_context
from zoo.deploy.emulate import PIPELINES, deploy_pipeline, pipelines, resize_deploy
from zoo.errors import StepError
from zoo.manifest.schema import Model
from zoo.measure.datasets import load_rgb, open_dataset, wnids
from zoo.measure.evaluate import IMAGENET_VAL_IMAGES, evaluate, open_session, tolerance
from zoo.measure.imaging import resize_bilinear_cv
from zoo.measure.preprocess import source_pipeline
from zoo.pipeline.record import Record, read_record

ITEMS, TOP1_HITS, TOP5_HITS = scenario()
TOP1, TOP5 = scenario_accuracy()  # 52.38 %, 90.48 %


def _record(work: Path) -> Record:
    record = read_record(work / "out" / "onnx-colours")
    assert record is not None
    return record


# Tolerance --------------------------------------------------------------------------------


def test_tolerance_rule() -> None:
    # 3 standard errors of a proportion, with the finite-population correction for 50,000 images
    p, n = 0.8, 500
    se = np.sqrt(p * (1 - p) / n * (IMAGENET_VAL_IMAGES - n) / (IMAGENET_VAL_IMAGES - 1))
    assert tolerance(80.0, 500) == pytest.approx(300 * se) == pytest.approx(5.34, abs=0.01)
    assert tolerance(80.0, IMAGENET_VAL_IMAGES) == 0.1  # the whole validation set: no sampling error
    assert tolerance(80.0, 45_000) == pytest.approx(0.179, abs=1e-3)  # a 90 % subset: nearly exact
    assert tolerance(80.0, 500, population=None) == pytest.approx(300 * np.sqrt(0.16 / 500))
    assert tolerance(99.99, 1_000) == 0.1  # the floor holds near 100 %
    sizes = [50, 500, 5_000, 25_000]
    assert all(tolerance(75.0, a) > tolerance(75.0, b) for a, b in pairwise(sizes))  # more images, tighter


# Exact accuracy, record, predictions ------------------------------------------------------


def _predictions(path: Path) -> dict[str, tuple[int, list[int], list[float]]]:
    rows = {}
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# image label top5_indices")
    for line in lines[1:]:
        fields = line.split()
        assert len(fields) == 12
        rows[fields[0]] = (int(fields[1]), [int(v) for v in fields[2:7]], [float(v) for v in fields[7:]])
    return rows


@pytest.mark.parametrize("layout", ["folders", "ImageNet", "ImageNet/val"])
def test_exact_accuracy_is_recorded(colours_workspace: Path, layout: str) -> None:
    before = _record(colours_workspace)
    result = run_zoo("eval", "onnx/colours", "--data", f"data/{layout}", "--batch", "4", cwd=colours_workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "52.38" in result.stdout and "90.48" in result.stdout and "pass" in result.stdout
    assert "converted to RGB: 1 CMYK, 1 L, 1 RGBA" in result.stdout
    after = _record(colours_workspace)
    metrics = after.steps["eval"].metrics
    assert metrics["top1"] == round(TOP1, 4) and metrics["top5"] == round(TOP5, 4)
    assert metrics["images"] == len(ITEMS) and metrics["preprocess"] == "source"
    assert metrics["passed"] is True and metrics["compared"] is True
    assert metrics["converted_to_rgb"] == {"CMYK": 1, "L": 1, "RGBA": 1}
    assert metrics["onnx"]["name"] == "onnx-colours.onnx"
    # every step the sync wrote is untouched
    assert {k: v for k, v in after.steps.items() if k != "eval"} == before.steps
    assert after.model_dump(exclude={"steps"}) == before.model_dump(exclude={"steps"})
    rows = _predictions(colours_workspace / "out" / "onnx-colours" / "predictions-source.txt")
    assert len(rows) == len(ITEMS)
    for item in ITEMS:
        name = next(n for n in rows if n.rsplit("/", 1)[-1].rsplit(".", 1)[0] == item.name)
        label, top5, scores = rows[name]
        assert label == item.label
        assert top5[0] == LEVEL_CLASSES[item.level]  # the nearest grey level's class, by construction
        assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1.0001


def test_accuracy_outside_the_tolerance_fails(tmp_path: Path) -> None:
    work = synced_workspace(tmp_path, expected=(80.0, 99.0))
    result = run_zoo("eval", "onnx/colours", "--data", "data/folders", cwd=work)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL" in result.stdout and "Traceback" not in result.stderr
    metrics = _record(work).steps["eval"].metrics
    assert metrics["passed"] is False
    assert metrics["checks"]["top1"]["tolerance"] == pytest.approx(tolerance(80.0, len(ITEMS)), abs=1e-4)


def test_random_weights_are_reported_not_compared(colours_workspace: Path) -> None:
    folder = colours_workspace / "out" / "onnx-colours"
    record = _record(colours_workspace)
    record.random_weights = True
    record.write(folder)
    manifest = colours_workspace / "manifests" / "fixture.yaml"
    text = manifest.read_text().replace(f"top1: {round(TOP1, 3)}", "top1: 99.9")
    manifest.write_text(text.replace(f"top5: {round(TOP5, 3)}", "top5: 99.95"))  # far off: would fail
    result = run_zoo("eval", "onnx/colours", "--data", "data/folders", cwd=colours_workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not compared" in result.stdout and "random" in result.stdout
    metrics = _record(colours_workspace).steps["eval"].metrics
    assert metrics["compared"] is False and metrics["passed"] is None and metrics["checks"] == {}


def test_both_pipelines_agree_on_solid_colours(colours_workspace: Path) -> None:
    result = run_zoo("eval", "onnx/colours", "--data", "data/folders", "--preprocess", "both", cwd=colours_workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    metrics = _record(colours_workspace).steps["eval"].metrics
    assert metrics["deploy"] == {"top1": round(TOP1, 4), "top5": round(TOP5, 4)}
    assert metrics["top1_changed"] == 0 and metrics["logit_cosine"] == pytest.approx(1.0, abs=1e-6)
    source = _predictions(colours_workspace / "out" / "onnx-colours" / "predictions-source.txt")
    deploy = _predictions(colours_workspace / "out" / "onnx-colours" / "predictions-deploy.txt")
    assert {n: r[1][0] for n, r in source.items()} == {n: r[1][0] for n, r in deploy.items()}


def test_limit_takes_one_image_per_class_first(colours_workspace: Path) -> None:
    classes = len({item.label for item in ITEMS})
    result = run_zoo("eval", "onnx/colours", "--data", "data/folders", "--limit", str(classes), cwd=colours_workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = _predictions(colours_workspace / "out" / "onnx-colours" / "predictions-source.txt")
    assert len(rows) == classes and len({r[0] for r in rows.values()}) == classes
    assert _record(colours_workspace).steps["eval"].metrics["images"] == classes


def test_unreadable_image_stops_cleanly(colours_workspace: Path) -> None:
    (colours_workspace / "data" / "folders" / wnids()[0] / "zz_broken.JPEG").write_bytes(b"\xff\xd8 not really a JPEG")
    result = run_zoo("eval", "onnx/colours", "--data", "data/folders", cwd=colours_workspace)
    assert result.returncode == 1
    assert "zz_broken.JPEG" in result.stderr and "Traceback" not in result.stderr
    folder = colours_workspace / "out" / "onnx-colours"
    assert not list(folder.glob("predictions*")) and not list(folder.glob(".predictions*"))
    assert "eval" not in _record(colours_workspace).steps


def test_missing_or_changed_onnx_is_explained(colours_workspace: Path, tmp_path: Path) -> None:
    onnx_file = colours_workspace / "out" / "onnx-colours" / "onnx-colours.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes() + b"\0")
    result = run_zoo("eval", "onnx/colours", "--data", "data/folders", cwd=colours_workspace)
    assert result.returncode == 1 and "changed since `zoo sync`" in result.stderr
    shutil.rmtree(colours_workspace / "out")
    result = run_zoo("eval", "onnx/colours", "--data", "data/folders", cwd=colours_workspace)
    assert result.returncode == 1 and "run `zoo sync` first or pass --onnx" in result.stderr
    # --onnx evaluates any file, reporting without a record
    result = run_zoo("eval", "onnx/colours", "--data", "data/folders", "--onnx", "manifests/colours.onnx",
                     cwd=colours_workspace)
    assert result.returncode == 0 and "not recorded" in result.stderr


# Library: batching and graphs with the batch built in ---------------------------------------


def _colour_model(work: Path) -> Model:
    from zoo.manifest.catalog import load_catalog

    return load_catalog([work / "manifests"]).models["onnx/colours"]


@pytest.mark.parametrize("baked", [False, True])
def test_batch_sizes_give_the_same_result(colours_synced: Path, tmp_path: Path, baked: bool) -> None:
    model = _colour_model(colours_synced)
    graph = colour_classifier(tmp_path / "c.onnx", baked_batch=baked)
    samples = open_dataset(colours_synced / "data" / "folders").samples
    results = [evaluate(model, samples, graph, batch=b, workers=2) for b in (1, 5, 16)]
    assert {r.scores["source"] for r in results} == {results[0].scores["source"]}
    assert results[0].scores["source"].top1_hits == TOP1_HITS and results[0].scores["source"].top5_hits == TOP5_HITS
    assert [r.batch for r in results] == ([1, 1, 1] if baked else [1, 5, 16])
    assert bool(results[-1].notes) == baked
    if baked:
        assert "batch size 1 built into its graph" in results[-1].notes[0]


def test_session_checks_the_input_shape(colours_synced: Path, tmp_path: Path) -> None:
    from zoo.errors import StepError

    graph = colour_classifier(tmp_path / "c.onnx", size=48)
    with pytest.raises(StepError, match=r"input_size is \[3, 32, 32\]"):
        open_session(graph, (3, 32, 32))


# Deploy pipeline --------------------------------------------------------------------------


def _model(**preprocess: object) -> Model:
    base = {"crop_pct": 0.887, "interpolation": "bilinear", "mean": list(MEAN), "std": list(STD)}
    return Model.model_validate({"name": "m", "family": "f", "source": {"library": "timm"}, "input_size": 256,
                                 "preprocess": {**base, **preprocess}})


def _model_deploying(resize_type: str = "auto", image_color: str = "RGB", **preprocess: object) -> Model:
    """`_model` with deploy settings."""
    data = _model(**preprocess).model_dump(by_alias=True)
    return Model.model_validate({**data, "deploy": {**data["deploy"], "resize_type": resize_type,
                                                    "image_color": image_color}})


def test_bilinear_cv_is_opencv_bit_for_bit(photos: list[Image.Image]) -> None:
    cv2 = require("cv2")
    for image in photos:
        pixels = np.asarray(image)
        for height, width in [(288, 288), (341, 341), (256, 256), (224, 224), (700, 600), (37, 53), (1, 1)]:
            expected = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_LINEAR)
            assert np.array_equal(resize_bilinear_cv(pixels, height, width), expected), (image.size, height, width)
        grey = pixels[..., 0].copy()
        assert np.array_equal(resize_bilinear_cv(grey, 100, 90), cv2.resize(grey, (90, 100), interpolation=cv2.INTER_LINEAR))


def test_pillow_resize_type(photos: list[Image.Image]) -> None:
    resized = resize_deploy(np.asarray(photos[0]), 120, 100, "BILINEAR_PILLOW")
    assert np.array_equal(resized, np.asarray(photos[0].resize((100, 120), Image.Resampling.BILINEAR)))
    with pytest.raises(ValueError, match="no emulation"):
        resize_deploy(np.asarray(photos[0]), 10, 10, "BICUBIC")


def test_pipelines_are_made_by_name(photos: list[Image.Image]) -> None:
    model = _model()
    made = pipelines(model, ["deploy", "source"])
    assert list(made) == ["deploy", "source"]
    assert np.array_equal(made["source"](photos[0]), source_pipeline(photos[0], model))
    assert np.array_equal(made["deploy"](photos[0]), deploy_pipeline(photos[0], build_context(model)))
    with pytest.raises(StepError, match="unknown pre-processing pipeline 'vdsp'; use one of: source, deploy"):
        pipelines(model, ["vdsp"])


@pytest.mark.parametrize(("backend", "resize_type"), [("cv2", "BILINEAR_CV"), ("pil", "BILINEAR_PILLOW")])
def test_deploy_pipeline_follows_the_vdsp_file(photos: list[Image.Image], backend: str, resize_type: str) -> None:
    """cspresnet50's vdsp_params: square resize to 288 with the source library's bilinear filter,
    crop 256 at (16, 16), fp16 statistics."""
    cv2 = require("cv2")
    model = _model(resize_backend=backend)
    ctx = build_context(model)
    assert (ctx.resize.height, ctx.crop.x, ctx.crop.y, ctx.resize.type) == (288, 16, 16, resize_type)
    assert ctx.normalise.mean_fp16 == (0.485107421875, 0.4560546875, 0.406005859375)
    for image in photos:
        got = deploy_pipeline(image, ctx)
        if backend == "cv2":
            resized = cv2.resize(np.asarray(image), (288, 288), interpolation=cv2.INTER_LINEAR)
        else:
            resized = np.asarray(image.resize((288, 288), Image.Resampling.BILINEAR))
        square = resized[16:272, 16:272]
        mean, std = np.float16(ctx.normalise.mean_fp16), np.float16(ctx.normalise.std_fp16)
        expected = ((square.astype(np.float16) / np.float16(255) - mean) / std).transpose(2, 0, 1)
        assert got.dtype == np.float32 and np.array_equal(got, expected.astype(np.float32))


def test_deploy_pipeline_bgr_and_byte_statistics(photos: list[Image.Image]) -> None:
    rgb, bgr = _model(), _model(color="BGR")
    rgb_files, bgr_files = build_context(rgb), build_context(bgr)
    for image in photos:
        # the colour conversion reorders channels and the statistics follow them
        assert np.array_equal(deploy_pipeline(image, bgr_files), deploy_pipeline(image, rgb_files)[::-1])
        assert np.array_equal(source_pipeline(image, bgr), source_pipeline(image, rgb)[::-1])
    byte = build_context(_model(value_range="0..255", mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]))
    for image in photos:  # statistics on the 0..255 scale describe the same normalisation
        assert np.abs(deploy_pipeline(image, byte) - deploy_pipeline(image, rgb_files)).max() < 0.05


def test_deploy_pipeline_bgr_images_and_raw_pixels(photos: list[Image.Image]) -> None:
    """BGR images from the runtime (BGR2RGB) reach an RGB network as RGB images do; EQUAL feeds raw pixels."""
    rgb = build_context(_model())
    bgr_images = build_context(_model_deploying(image_color="BGR"))
    bgr_both = build_context(_model_deploying(image_color="BGR", color="BGR"))
    assert (bgr_images.colour.cvt_code, bgr_both.colour.cvt_code) == ("BGR2RGB", "NO_CHANGE")
    raw = build_context(_model(value_range="0..255", mean=[0, 0, 0], std=[1, 1, 1]))
    assert raw.normalise.norm_type == "EQUAL"
    for image in photos:
        assert np.array_equal(deploy_pipeline(image, bgr_images), deploy_pipeline(image, rgb))
        assert np.array_equal(deploy_pipeline(image, bgr_both), deploy_pipeline(image, build_context(_model(color="BGR"))))
        resized = np.asarray(image.resize((288, 288), Image.Resampling.BILINEAR))[16:272, 16:272]
        assert np.array_equal(deploy_pipeline(image, raw), resized.transpose(2, 0, 1).astype(np.float32))


def test_bilinear_pillow_makes_a_pil_source_exact_up_to_float16(photos: list[Image.Image]) -> None:
    """Measured, not asserted: for a PIL-bilinear source that squashes, BILINEAR_PILLOW leaves only
    the float16 statistics between source and deploy; BILINEAR_CV moves pixels by whole levels."""
    model = _model(crop_mode="squash")
    pillow, opencv = build_context(model), build_context(_model_deploying(crop_mode="squash", resize_type="BILINEAR_CV"))
    assert (pillow.resize.type, opencv.resize.type) == ("BILINEAR_PILLOW", "BILINEAR_CV")
    for image in photos:
        source = source_pipeline(image, model)
        assert np.abs(source - deploy_pipeline(image, pillow)).max() < 0.02  # float16 rounding, nothing more
        assert np.abs(source - deploy_pipeline(image, opencv)).max() > 0.1


def test_deploy_equals_source_where_nothing_is_approximated(photos: list[Image.Image]) -> None:
    """An image already at the resize size needs no resize: only the fp16 statistics differ."""
    model = _model(crop_pct=1.0, crop_mode="squash")
    for image in photos:
        ready = image.resize((256, 256))
        source, deploy = source_pipeline(ready, model), deploy_pipeline(ready, build_context(model))
        assert 0 < np.abs(source - deploy).max() < 0.02  # float16 rounding, nothing more


@pytest.fixture(scope="module")
def timm_network(photos: list[Image.Image], tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path, list[Any]]:
    """A random-weight timm test_resnet (160 x 160), its ONNX export, and the photographs as a dataset."""
    torch = require("torch")
    timm = require("timm")
    folder = tmp_path_factory.mktemp("timm_network")
    torch.manual_seed(0)
    network = timm.create_model("test_resnet", pretrained=False, num_classes=1000).eval()
    onnx_path = folder / "test_resnet.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(network, (torch.zeros(1, 3, 160, 160),), str(onnx_path), dynamo=False,
                          input_names=["input"], opset_version=13)
    root = folder / "data"
    for index, image in enumerate(photos):
        for turn in range(2):  # landscape and portrait
            label = root / wnids()[index]
            label.mkdir(parents=True, exist_ok=True)
            (image.transpose(2) if turn else image).save(label / f"photo_{turn}.png")
    return network, onnx_path, open_dataset(root).samples


def _test_resnet(**preprocess: object) -> Model:
    resize_type = preprocess.pop("resize_type", "auto")
    return Model.model_validate({
        "name": "test_resnet", "family": "f", "source": {"library": "timm"}, "input_size": 160,
        "preprocess": {"crop_pct": 0.875, "mean": [0.5] * 3, "std": [0.5] * 3, **preprocess},
        "deploy": {"resize_type": resize_type},
    })


def test_deploy_vs_source_on_photographs_with_a_timm_model(timm_network: tuple[Any, Path, list[Any]]) -> None:
    """The comparison `--preprocess both` reports, on real photographs and a real network."""
    import torch

    network, onnx_path, samples = timm_network
    model = _test_resnet(interpolation="bicubic")
    result = evaluate(model, samples, onnx_path, pipelines=pipelines(model, PIPELINES), batch=4)
    assert result.images == len(samples) == 8
    assert result.top1_changed is not None and 0 <= result.top1_changed <= 1
    assert result.logit_cosine is not None and 0.5 < result.logit_cosine < 1.0  # close, not identical
    with torch.no_grad():  # the source numbers are what the network computes on timm's own inputs
        first = load_rgb(samples[0].path)[0]
        logits = network(torch.from_numpy(source_pipeline(first, model))[None]).numpy()[0]
    runner = open_session(onnx_path, model.input_size)
    assert np.abs(runner.run(source_pipeline(first, model)[None])[0] - logits).max() < 1e-4
    assert np.abs(source_pipeline(first, model) - deploy_pipeline(first, build_context(model))).max() > 0.05


def test_eval_measures_the_resize_type_choice(timm_network: tuple[Any, Path, list[Any]]) -> None:
    """`--preprocess both` for a PIL-bilinear source that squashes: with BILINEAR_PILLOW (the default)
    only the float16 statistics separate deploy from source; an explicit BILINEAR_CV costs more."""
    _, onnx_path, samples = timm_network
    measured = {}
    for resize_type in ("auto", "BILINEAR_CV"):
        model = _test_resnet(crop_mode="squash", resize_type=resize_type)
        measured[resize_type] = evaluate(model, samples, onnx_path, pipelines=pipelines(model, PIPELINES), batch=4)
    pillow, opencv = measured["auto"].logit_cosine, measured["BILINEAR_CV"].logit_cosine
    assert pillow is not None and opencv is not None
    assert measured["auto"].top1_changed == 0 and pillow > 0.9999
    assert opencv < pillow


def test_eval_json_record_is_valid_json(colours_workspace: Path) -> None:
    run_zoo("eval", "onnx/colours", "--data", "data/folders", cwd=colours_workspace)
    document = json.loads((colours_workspace / "out" / "onnx-colours" / "record.json").read_text())
    assert document["steps"]["eval"]["kind"] == "eval" and document["steps"]["eval"]["status"] == "ran"
