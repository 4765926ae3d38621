"""torchvision: `torchvision.models.get_model(arch, weights=None, num_classes=...)` plus a checkpoint.

Its configs are the weights enums: `meta` (categories, parameters, ImageNet accuracy, GFLOPS)
and `transforms()` (the eval transform). Only the installed torchvision can be read.
"""

from __future__ import annotations

from typing import Any

from zoo.errors import ConversionError
from zoo.manifest.schema import Model
from zoo.sources.config import ConfigQuery, LibraryConfig, matching
from zoo.sources.torch_export import TorchLibrary

#: The dataset torchvision's `meta["_metrics"]` names for ImageNet-1k accuracy.
IMAGENET = "ImageNet-1K"


class Torchvision(TorchLibrary):
    name = "torchvision"
    tools = ("torch", "torchvision", "onnx")
    extra = "torchvision"
    package = "torchvision"

    def build(self, model: Model) -> Any:
        import torchvision

        arch = model.source.arch or model.name
        if arch not in torchvision.models.list_models():
            raise ConversionError(
                f"{model.id}: torchvision {torchvision.__version__} has no model {arch!r} "
                "(`torchvision.models.list_models()` lists what there is)"
            )
        return torchvision.models.get_model(arch, weights=None, num_classes=model.num_classes)

    def read_configs(self, query: ConfigQuery) -> dict[str, LibraryConfig]:
        """The weights enum of each classification model: the manifest's checkpoint, else DEFAULT."""
        import torchvision
        from torchvision import models

        chosen = matching(query.names, models.list_models(module=models))
        configs = {}
        for arch in chosen:
            enum = models.get_model_weights(arch)
            weights = next((w for w in enum if w.url == query.weights.get(arch)), enum.DEFAULT)
            configs[arch] = _config(arch, weights, torchvision.__version__)
        return configs


def _config(arch: str, weights: Any, version: str) -> LibraryConfig:
    """One weights enum member in the manifest's terms (torchvision feeds PIL images, RGB, on 0..1)."""
    meta, transform = weights.meta, weights.transforms()
    crop, resize = transform.crop_size[0], transform.resize_size[0]
    metrics = meta.get("_metrics", {}).get(IMAGENET, {})
    label = f"{type(weights).__name__}.{weights.name}"
    return LibraryConfig(
        library="torchvision", arch=arch, version=version, read_from=f"torchvision {version} ({label})",
        input_size=(3, crop, crop), resize=resize, crop_mode="center", interpolation=transform.interpolation.value,
        resize_backend="pil", mean=tuple(transform.mean), std=tuple(transform.std), value_range="0..1",
        color="RGB", num_classes=len(meta["categories"]), weights_url=weights.url,
        top1=metrics.get("acc@1"), top5=metrics.get("acc@5"), params_m=meta["num_params"] / 1e6,
        flops_g=meta.get("_ops"), numbers_source=f"torchvision {version} {label}.meta",
    )


LIBRARY = Torchvision()
