"""torchvision: `torchvision.models.get_model(arch, weights=None, num_classes=...)` plus a checkpoint."""

from __future__ import annotations

from pathlib import Path

from zoo.errors import ConversionError
from zoo.manifest.schema import Model
from zoo.sources.common import ConvertResult
from zoo.sources.torch_export import build_and_export

TOOLS = ("torchvision",)


def convert(model: Model, weights: Path | None, out: Path, *, seed: int = 0) -> ConvertResult:
    """Build the torchvision architecture, load `weights` (or keep the seeded random init), export."""
    import torchvision

    arch = model.source.arch or model.name

    def build():  # type: ignore[no-untyped-def]
        if arch not in torchvision.models.list_models():
            raise ConversionError(
                f"{model.id}: torchvision {torchvision.__version__} has no model {arch!r} "
                "(`torchvision.models.list_models()` lists what there is)"
            )
        return torchvision.models.get_model(arch, weights=None, num_classes=model.num_classes)

    return build_and_export(build, model, weights, out, seed=seed, tools=TOOLS)
