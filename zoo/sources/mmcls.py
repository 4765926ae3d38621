"""mmcls (through mmpretrain): a model by config name plus checkpoint, exported as its logits.

mmpretrain's `ImageClassifier` carries a data preprocessor (mean/std, BGR->RGB) and a loss;
neither belongs in the deployed graph — the deploy toolchain does the preprocessing. The
exported module is backbone -> neck -> head in `tensor` mode: the logits before softmax.
"""

from __future__ import annotations

from typing import Any

from zoo.errors import ConversionError
from zoo.manifest.derived import crop_offset
from zoo.manifest.schema import Model, Preprocess
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
