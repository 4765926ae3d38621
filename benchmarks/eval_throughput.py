"""Throughput of `zoo eval` against bare ONNX Runtime inference on the same preprocessed batches.

`zoo eval` decodes and preprocesses images in a thread pool while ONNX Runtime runs the
previous batches; this measures how close that gets to inference alone. Goal (issue 7):
eval images/s >= 0.8 x bare ONNX Runtime images/s.

Setup: a timm model with random weights (no download; accuracy is irrelevant here) exported
to ONNX with a dynamic batch axis, and N ImageNet-sized JPEGs (crops of scikit-image's
photographs, about 500x375) in class folders. Bare ONNX Runtime: every image preprocessed
beforehand, then only `session.run` over batches of the same size, default session options.

Run: .venv/bin/python benchmarks/eval_throughput.py [--arch cspresnet50] [--images 160] [--batch 16]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zoo.manifest.schema import Model  # noqa: E402
from zoo.measure.datasets import open_dataset, wnids  # noqa: E402
from zoo.measure.evaluate import evaluate  # noqa: E402
from zoo.measure.preprocess import source_pipeline  # noqa: E402


def make_images(root: Path, count: int) -> None:
    """`count` JPEGs of roughly ImageNet size: random crops and flips of the bundled photographs."""
    from PIL import Image
    from skimage import data

    photos = [Image.fromarray(getattr(data, name)()) for name in ("chelsea", "coffee", "astronaut", "rocket")]
    rng = np.random.default_rng(0)
    for index in range(count):
        photo = photos[index % len(photos)]
        scale = rng.uniform(0.6, 1.0)
        w, h = int(photo.width * scale), int(photo.height * scale)
        left, top = rng.integers(0, photo.width - w + 1), rng.integers(0, photo.height - h + 1)
        image = photo.crop((left, top, left + w, top + h)).resize((500, 375) if w >= h else (375, 500))
        if index % 2:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        folder = root / wnids()[index % 50]
        folder.mkdir(parents=True, exist_ok=True)
        image.convert("RGB").save(folder / f"img_{index:05d}.JPEG", quality=90)


def export(arch: str, path: Path) -> Model:
    import timm
    import torch

    network = timm.create_model(arch, pretrained=False).eval()
    config = timm.data.resolve_data_config({}, model=network)
    size = config["input_size"]
    torch.onnx.export(network, (torch.zeros(1, *size),), str(path), dynamo=False, input_names=["input"],
                      output_names=["logits"], opset_version=13, dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return Model.model_validate({
        "name": arch, "family": "bench", "source": {"library": "timm"}, "input_size": list(size),
        "preprocess": {"crop_pct": config["crop_pct"], "interpolation": config["interpolation"],
                       "crop_mode": config["crop_mode"], "mean": list(config["mean"]), "std": list(config["std"])},
    })


def bare_images_per_second(path: Path, inputs: np.ndarray, batch: int) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    session.run(None, {"input": inputs[:batch]})  # warm-up
    start = time.perf_counter()
    for first in range(0, len(inputs), batch):
        session.run(None, {"input": inputs[first : first + batch]})
    return len(inputs) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="cspresnet50", help="timm architecture (random weights)")
    parser.add_argument("--images", type=int, default=160)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side; the best is kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zoo-eval-bench-") as tmp:
        root = Path(tmp)
        make_images(root / "val", args.images)
        model = export(args.arch, root / "model.onnx")
        samples = open_dataset(root / "val").samples
        evaluate(model, samples[: args.batch], root / "model.onnx", batch=args.batch)  # warm caches
        from zoo.measure.datasets import load_rgb

        inputs = np.stack([source_pipeline(load_rgb(s.path)[0], model) for s in samples])
        bare = zoo_eval = 0.0
        for _ in range(args.repeats):  # alternate, so that load from elsewhere hits both sides alike
            bare = max(bare, bare_images_per_second(root / "model.onnx", inputs, args.batch))
            run = evaluate(model, samples, root / "model.onnx", batch=args.batch)
            zoo_eval = max(zoo_eval, run.images_per_second)
        start = time.perf_counter()
        for sample in samples:
            source_pipeline(load_rgb(sample.path)[0], model)
        decode = len(samples) / (time.perf_counter() - start)
    print(f"model {args.arch} {model.input_size}, {len(samples)} JPEGs ~500x375, batch {args.batch}")
    print(f"{'decode + preprocess only (1 thread)':40} {decode:8.1f} images/s")
    print(f"{'bare ONNX Runtime (preprocessed)':40} {bare:8.1f} images/s")
    print(f"{'zoo eval (decode overlapped)':40} {zoo_eval:8.1f} images/s")
    print(f"{'ratio zoo eval / bare':40} {zoo_eval / bare:8.2f}   (goal >= 0.8)")


if __name__ == "__main__":
    main()
