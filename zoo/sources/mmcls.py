"""mmcls (through mmpretrain): a model by config name plus checkpoint, exported as its logits.

mmpretrain's `ImageClassifier` carries a data preprocessor (mean/std, BGR->RGB) and a loss;
neither belongs in the deployed graph — the deploy toolchain does the preprocessing. The
exported module is backbone -> neck -> head in `tensor` mode: the logits before softmax.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.errors import ConversionError
from zoo.manifest.schema import Model
from zoo.sources.common import ConvertResult
from zoo.sources.torch_export import build_and_export

TOOLS = ("mmpretrain", "mmengine")


def convert(model: Model, weights: Path | None, out: Path, *, seed: int = 0) -> ConvertResult:
    """Build the mmpretrain classifier, load `weights` (or keep the seeded random init), export its logits."""
    import mmpretrain

    arch = model.source.arch or model.name

    def build() -> Any:
        if arch not in mmpretrain.list_models(arch):
            raise ConversionError(
                f"{model.id}: mmpretrain {mmpretrain.__version__} has no model {arch!r} "
                "(`mmpretrain.list_models('*name*')` lists what there is)"
            )
        return mmpretrain.get_model(arch, pretrained=False, head={"num_classes": model.num_classes})

    return build_and_export(build, model, weights, out, seed=seed, tools=TOOLS, exportable=_logits_module)


def _logits_module(classifier: Any) -> Any:
    """Wrap an `ImageClassifier` so that forward(x) is backbone -> neck -> head (no preprocessor, no loss)."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x, mode="tensor")

    return Logits(classifier)
