"""mmcls (through mmpretrain): a model by config name plus checkpoint, exported as its logits.

mmpretrain's `ImageClassifier` carries a data preprocessor (mean/std, BGR->RGB) and a loss;
neither belongs in the deployed graph — the deploy toolchain does the preprocessing. The
exported module is backbone -> neck -> head in `tensor` mode: the logits before softmax.

Its configs ship inside the mmpretrain package (`.mim/`): the model index lists metafiles
(weights, accuracy, FLOPs, parameters per model) and each model's config file holds the test
pipeline and the data preprocessor, read with mmengine (which resolves `_base_` files). Only
the installed mmpretrain can be read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from zoo.errors import ConversionError
from zoo.manifest.derived import crop_offset
from zoo.manifest.schema import Model, Preprocess
from zoo.sources.config import ConfigQuery, LibraryConfig, matching, triple
from zoo.sources.torch_export import TorchLibrary
from zoo.sources.transform import SourceRules, divide_by_255, shorter_side, truncate_longer


def _mmcv_size(w: int, h: int, pre: Preprocess, height: int, width: int) -> tuple[int, int]:
    """mmpretrain `ResizeEdge(scale, edge='short')` (mmcls 0.x `Resize(size=(scale, -1))`)."""
    return truncate_longer(w, h, shorter_side(pre, height, width))


class Mmcls(TorchLibrary):
    name = "mmcls"
    weight_formats = frozenset({"pth"})
    #: mmpretrain ResizeEdge + mmcv CenterCrop (`int(round(...))`) + ClsDataPreprocessor (x - mean) / std
    eval_rules = SourceRules(_mmcv_size, crop_offset, divide_by_255)
    tools = ("torch", "mmpretrain", "mmengine", "onnx")
    extra = "mmcls"
    package = "mmpretrain"

    def read_configs(self, query: ConfigQuery) -> dict[str, LibraryConfig]:
        """Each model's metafile entry and the eval pipeline of its config, from the installed mmpretrain."""
        import mmpretrain

        root = Path(mmpretrain.__file__).parent / ".mim"
        index = model_index(root)
        version = mmpretrain.__version__
        return {name: _config(name, index[name], root, version) for name in matching(query.names, index)}

    def build(self, model: Model) -> Any:
        import mmpretrain

        arch = model.source.arch or model.name
        if arch not in mmpretrain.list_models(arch):
            raise ConversionError(
                f"{model.id}: mmpretrain {mmpretrain.__version__} has no model {arch!r} "
                "(`mmpretrain.list_models('*name*')` lists what there is)"
            )
        return mmpretrain.get_model(arch, pretrained=False, head={"num_classes": model.num_classes})

    def exportable(self, module: Any) -> Any:
        """Wrap an `ImageClassifier` so that forward(x) is backbone -> neck -> head (no preprocessor, no loss)."""
        import torch

        class Logits(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.inner(x, mode="tensor")

        return Logits(module)


LIBRARY = Mmcls()


def model_index(root: Path) -> dict[str, dict[str, Any]]:
    """Every model of mmpretrain's model index by name, each with the metafile it comes from."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    index: dict[str, dict[str, Any]] = {}
    for metafile in yaml.load((root / "model-index.yml").read_text(encoding="utf-8"), Loader=loader)["Import"]:
        document = yaml.load((root / metafile).read_text(encoding="utf-8"), Loader=loader) or {}
        for entry in document.get("Models", []):
            index[entry["Name"]] = {**entry, "metafile": metafile}
    return index


def _config(name: str, entry: dict[str, Any], root: Path, version: str) -> LibraryConfig:
    """A metafile entry plus its config's test pipeline, in the manifest's terms (statistics on 0..255)."""
    from mmengine.config import Config

    config = Config.fromfile(str(root / entry["Config"]))
    metadata = entry.get("Metadata") or {}
    metrics: dict[str, Any] = next((r["Metrics"] for r in entry.get("Results") or [] if r.get("Dataset") == "ImageNet-1k"), {})
    preprocessor = config.get("data_preprocessor") or config.model.get("data_preprocessor") or {}
    head = config.model.get("head") or {}
    return LibraryConfig(
        library="mmcls", arch=name, version=version, read_from=f"mmpretrain {version} ({entry['Config']})",
        **test_pipeline(config.test_dataloader.dataset.pipeline),
        mean=triple(preprocessor.get("mean")), std=triple(preprocessor.get("std")), value_range="0..255",
        color="RGB" if preprocessor.get("to_rgb") else "BGR", num_classes=head.get("num_classes"),
        weights_url=entry.get("Weights"), top1=metrics.get("Top 1 Accuracy"), top5=metrics.get("Top 5 Accuracy"),
        params_m=_scaled(metadata.get("Parameters"), 1e6), flops_g=_scaled(metadata.get("FLOPs"), 1e9),
        numbers_source=f"mmpretrain {version} {entry['metafile']}",
    )


def test_pipeline(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Input size, resize and filter of an mmpretrain test pipeline (`ResizeEdge`/`Resize` + `CenterCrop`).

    A `Resize` to a fixed size with no crop after it resizes both sides: crop mode `squash`.
    """
    found: dict[str, Any] = {}
    for step in steps:
        kind = step.get("type")
        if kind in ("ResizeEdge", "Resize"):
            scale = step["scale"]
            side = scale if isinstance(scale, int) else min(scale)
            found.update(resize=side, crop_mode="squash" if kind == "Resize" else "center",
                         interpolation=step.get("interpolation", "bilinear"),
                         resize_backend="pil" if step.get("backend") == "pillow" else "cv2",
                         input_size=(3, side, side))
        elif kind == "CenterCrop":
            size = step["crop_size"]
            width, height = (size, size) if isinstance(size, int) else size
            found.update(input_size=(3, height, width), crop_mode="center")
    return found


def _scaled(value: Any, unit: float) -> float | None:
    return float(value) / unit if value is not None else None
