"""What the deployment pre-processing changes, measured on real photographs before any hardware.

For each timm model below, every photograph bundled with scikit-image goes through
`--preprocess both` (`zoo.measure.evaluate.evaluate` with the source and deploy pipelines) and this
prints: the share of images whose top-1 class changes, the mean cosine between the two logit
vectors, and, independent of any weights, how far apart the two network inputs are (mean
absolute difference in normalised units, and PSNR on the 0..1 scale).

The networks have RANDOM weights (no download is possible here): the top-1 change rate and the
logit cosine then measure how much the pipelines' differences move a generic network's output,
not an accuracy. With trained weights, `zoo eval ID --data VAL --preprocess both` measures the
real accuracy cost on ImageNet.

Run: .venv/bin/python benchmarks/deploy_fidelity.py [--archs cspresnet50,resnet50.a1_in1k,...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zoo.deploy.context import build_context  # noqa: E402
from zoo.deploy.emulate import deploy_pipeline  # noqa: E402
from zoo.manifest.schema import Model  # noqa: E402
from zoo.measure.datasets import load_rgb, open_dataset, wnids  # noqa: E402
from zoo.measure.evaluate import evaluate  # noqa: E402
from zoo.measure.preprocess import source_pipeline  # noqa: E402
from zoo.pipeline.steps.eval import make_pipelines  # noqa: E402

#: timm models covering the rules: bilinear 0.887 (the seed's CSPNet), bicubic 0.95, 0.875 at 299 (341),
#: bicubic with 0.5 statistics (ViT-style), squash.
DEFAULT_ARCHS = "cspresnet50,resnet50.a1_in1k,inception_v3.tv_in1k,vit_small_patch16_224.augreg_in21k_ft_in1k,convnext_tiny.fb_in22k_ft_in1k_384"
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "hubble_deep_field", "immunohistochemistry",
          "retina", "motorcycle_left", "cat", "colorwheel", "page", "text", "coins", "clock")


def photographs(root: Path) -> int:
    """Save every bundled scikit-image photograph (those needing a download are skipped)."""
    from PIL import Image
    from skimage import data

    count = 0
    for index, name in enumerate(PHOTOS):
        try:
            pixels = getattr(data, name)()
        except Exception:  # noqa: BLE001 - photographs that need a download are not bundled
            continue
        if pixels.ndim == 3 and pixels.shape[2] == 4:
            pixels = pixels[..., :3]
        folder = root / wnids()[index]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"{name}.png")
        count += 1
    return count


def export(arch: str, path: Path) -> Model:
    import timm
    import torch

    torch.manual_seed(0)
    network = timm.create_model(arch, pretrained=False).eval()
    config = timm.data.resolve_data_config({}, model=network)
    torch.onnx.export(network, (torch.zeros(1, *config["input_size"]),), str(path), dynamo=False,
                      input_names=["input"], opset_version=14)
    return Model.model_validate({
        "name": arch.replace("/", "_"), "family": "bench", "source": {"library": "timm"},
        "input_size": list(config["input_size"]),
        "preprocess": {"crop_pct": config["crop_pct"], "interpolation": config["interpolation"],
                       "crop_mode": config["crop_mode"], "mean": list(config["mean"]), "std": list(config["std"])},
    })


def input_distance(model: Model, paths: list[Path]) -> tuple[float, float]:
    """Mean |source - deploy| of the network inputs, and the PSNR (dB) of the deploy input on 0..1."""
    diffs, errors = [], []
    std = np.asarray(model.preprocess.std, np.float64)[:, None, None]
    for path in paths:
        image = load_rgb(path)[0]
        source, deploy = source_pipeline(image, model), deploy_pipeline(image, model)
        diffs.append(np.abs(source - deploy).mean())
        errors.append(np.mean(((source - deploy) * std) ** 2))  # back on the 0..1 pixel scale
    mse = float(np.mean(errors))
    return float(np.mean(diffs)), float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", default=DEFAULT_ARCHS, help="comma-separated timm model names")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zoo-fidelity-") as tmp:
        root = Path(tmp)
        count = photographs(root / "photos")
        samples = open_dataset(root / "photos").samples
        print(f"{count} scikit-image photographs; networks with RANDOM weights (see the docstring)")
        print(f"{'model':48} {'source rule':34} {'deploy':18} {'top-1 changed':>13} {'logit cos':>10} "
              f"{'input |d|':>9} {'PSNR dB':>8}")
        for arch in args.archs.split(","):
            model = export(arch, root / "model.onnx")
            ctx = build_context(model)
            result = evaluate(model, samples, root / "model.onnx", pipelines=make_pipelines(model, ("source", "deploy")),
                              batch=4)
            mean_diff, psnr = input_distance(model, [s.path for s in samples])
            pre = model.preprocess
            rule = f"{pre.interpolation.value} {pre.crop_pct} {pre.crop_mode.value} {model.input_size[1]}"
            deploy = f"{ctx.resize_type} {ctx.resize_height}sq"
            print(f"{arch:48} {rule:34} {deploy:18} {100 * (result.top1_changed or 0):12.1f}% "
                  f"{result.logit_cosine or 0:10.5f} {mean_diff:9.4f} {psnr:8.2f}")


if __name__ == "__main__":
    main()
