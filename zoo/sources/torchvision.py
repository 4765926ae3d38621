"""torchvision: `torchvision.models.get_model(arch, weights=None, num_classes=...)` plus a checkpoint."""

from __future__ import annotations

from typing import Any

from zoo.errors import ConversionError
from zoo.manifest.schema import Model
from zoo.sources.torch_export import TorchLibrary


class Torchvision(TorchLibrary):
    name = "torchvision"
    tools = ("torch", "torchvision", "onnx")

    def build(self, model: Model) -> Any:
        import torchvision

        arch = model.source.arch or model.name
        if arch not in torchvision.models.list_models():
            raise ConversionError(
                f"{model.id}: torchvision {torchvision.__version__} has no model {arch!r} "
                "(`torchvision.models.list_models()` lists what there is)"
            )
        return torchvision.models.get_model(arch, weights=None, num_classes=model.num_classes)


LIBRARY = Torchvision()
