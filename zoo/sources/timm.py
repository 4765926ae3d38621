"""timm: `timm.create_model(arch, pretrained=False, num_classes=...)` plus a checkpoint, exported to ONNX."""

from __future__ import annotations

from typing import Any

from zoo.errors import ConversionError
from zoo.manifest.schema import Model
from zoo.sources.torch_export import TorchLibrary


class Timm(TorchLibrary):
    """timm's eval transform is built of torchvision transforms, so its rules are torchvision's."""

    name = "timm"
    tools = ("torch", "timm", "onnx")

    def build(self, model: Model) -> Any:
        import timm

        arch = model.source.arch or model.name
        if not timm.is_model(arch):
            raise ConversionError(
                f"{model.id}: timm {timm.__version__} has no architecture {arch!r} "
                "(`timm.list_models('*name*')` lists what there is)"
            )
        return timm.create_model(arch, pretrained=False, num_classes=model.num_classes)


LIBRARY = Timm()
