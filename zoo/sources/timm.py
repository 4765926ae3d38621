"""timm: `timm.create_model(arch, pretrained=False, num_classes=...)` plus a checkpoint, exported to ONNX.

Its configs (`pretrained_cfg`) are read at the manifest's version: the installed timm when the
versions agree, else that version's wheel from the package index (`zoo.sources.packages`),
always in one child interpreter per batch (`zoo.sources.timm_child`). timm's wheel publishes no
accuracy (its results tables live only in its repository), so none is read.
"""

from __future__ import annotations

from typing import Any

from zoo.errors import ConversionError, LibraryConfigError
from zoo.manifest.schema import Model
from zoo.sources.config import ConfigQuery, LibraryConfig, same_release, triple
from zoo.sources.packages import installed_version, package_folder, run_reader
from zoo.sources.torch_export import TorchLibrary

#: Where timm 0.9+ keeps checkpoints that have no `url` of their own.
HF_HUB = "https://huggingface.co/{repo}/resolve/main/{file}"
HF_DEFAULT_FILE = "model.safetensors"


class Timm(TorchLibrary):
    """timm's eval transform is built of torchvision transforms, so its rules are torchvision's."""

    name = "timm"
    tools = ("torch", "timm", "onnx")
    extra = "timm"
    package = "timm"

    def build(self, model: Model) -> Any:
        import timm

        arch = model.source.arch or model.name
        if not timm.is_model(arch):
            raise ConversionError(
                f"{model.id}: timm {timm.__version__} has no architecture {arch!r} "
                "(`timm.list_models('*name*')` lists what there is)"
            )
        return timm.create_model(arch, pretrained=False, num_classes=model.num_classes)

    def read_configs(self, query: ConfigQuery) -> dict[str, LibraryConfig]:
        """timm's pretrained configs at `query.version`, read in one child interpreter."""
        installed = installed_version("timm")
        if query.version is None and installed is None:
            raise LibraryConfigError("timm is not installed; name the version to read (e.g. `resnet50@0.6.5`)")
        import_path = []
        if query.version is not None and not (installed and same_release(query.version, installed)):
            import_path.append(package_folder("timm", query.version, query.cache, offline=query.offline))
        request = {"names": list(query.names), "weights": dict(query.weights)}
        answer = run_reader("zoo.sources.timm_child", request, import_path)
        return {arch: _config(arch, raw, answer["version"]) for arch, raw in answer["configs"].items()}


def _config(arch: str, raw: dict[str, Any], version: str) -> LibraryConfig:
    """One timm pretrained config in the manifest's terms (timm feeds PIL images, RGB, on 0..1)."""
    tagged = raw["name"] if "." in raw["name"] or not raw.get("tag") else f"{raw['name']}.{raw['tag']}"
    checkpoint = f" ({tagged})" if tagged != arch else ""
    notes = []
    if "test_input_size" in raw:
        notes.append(f"timm also states a test-time input size {raw['test_input_size'][-1]} "
                     f"(crop_pct {raw.get('test_crop_pct', raw.get('crop_pct'))})")
    return LibraryConfig(
        library="timm", arch=arch, version=version, read_from=f"timm {version}{checkpoint}",
        input_size=triple(raw.get("input_size"), int), crop_pct=raw.get("crop_pct"),
        crop_mode=raw.get("crop_mode", "center"), interpolation=raw.get("interpolation"), resize_backend="pil",
        mean=triple(raw.get("mean")), std=triple(raw.get("std")), value_range="0..1", color="RGB",
        num_classes=raw.get("num_classes"), weights_url=_weights_url(raw), notes=tuple(notes),
    )


def _weights_url(raw: dict[str, Any]) -> str | None:
    """The checkpoint's own URL, else its file on the Hugging Face hub (timm 0.9+)."""
    if raw.get("url"):
        return str(raw["url"])
    if raw.get("hf_hub_id"):
        return HF_HUB.format(repo=raw["hf_hub_id"], file=raw.get("hf_hub_filename") or HF_DEFAULT_FILE)
    return None


LIBRARY = Timm()
