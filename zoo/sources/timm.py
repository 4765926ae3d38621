"""timm: `timm.create_model(arch, pretrained=False, num_classes=...)` plus a checkpoint, exported to ONNX."""

from __future__ import annotations

from pathlib import Path

from zoo.errors import ConversionError
from zoo.manifest.schema import Model
from zoo.sources.common import ConvertResult
from zoo.sources.torch_export import build_and_export

TOOLS = ("timm",)


def convert(model: Model, weights: Path | None, out: Path, *, seed: int = 0) -> ConvertResult:
    """Build the timm architecture, load `weights` (or keep the seeded random init), export."""
    import timm

    arch = model.source.arch or model.name

    def build():  # type: ignore[no-untyped-def]
        if not timm.is_model(arch):
            raise ConversionError(
                f"{model.id}: timm {timm.__version__} has no architecture {arch!r} "
                "(`timm.list_models('*name*')` lists what there is)"
            )
        return timm.create_model(arch, pretrained=False, num_classes=model.num_classes)

    return build_and_export(build, model, weights, out, seed=seed, tools=TOOLS)
