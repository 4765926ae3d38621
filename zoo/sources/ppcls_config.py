"""PaddleClas's own configs: weights URLs from the package, the eval transform from a YAML file.

- Weights: the `MODEL_URLS` dict literals of `ppcls/arch/backbone/**.py` in the paddleclas
  package at the pinned version (the installed one, else its wheel fetched into the cache).
  They are read from the source text, never imported: importing paddleclas starts Paddle.
- Eval transform: PaddleClas's package does not ship `ppcls/configs/`, so the manifest names
  the model's config file (`source.config`: a path or URL of
  ``ppcls/configs/ImageNet/<Family>/<Model>.yaml`` at a release tag), fetched and cached like
  weights. ``standard`` names PaddleClas's standard ImageNet eval transform instead; it is used
  only where a manifest or `zoo import --config` states it.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from zoo.errors import FetchError, LibraryConfigError
from zoo.names import file_name_problem, url_file_name
from zoo.sources.config import ConfigQuery, LibraryConfig, matching, same_release, triple
from zoo.sources.packages import installed_version, package_folder

#: The distribution PaddleClas is published as.
DISTRIBUTION = "paddleclas"
#: What a manifest writes as `source.config` to mean PaddleClas's standard ImageNet eval transform.
STANDARD = "standard"
#: PaddleClas's standard ImageNet eval transform (`DataLoader.Eval.dataset.transform_ops` of its
#: ImageNet configs): decode to RGB, shorter side to 256 with OpenCV bilinear, crop 224, x/255, ImageNet statistics.
STANDARD_EVAL: dict[str, Any] = {
    "Arch": {"class_num": 1000},
    "DataLoader": {"Eval": {"dataset": {"transform_ops": [
        {"DecodeImage": {"to_rgb": True, "channel_first": False}},
        {"ResizeImage": {"resize_short": 256}},
        {"CropImage": {"size": 224}},
        {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                            "order": ""}},
    ]}}},
}


def read_configs(query: ConfigQuery) -> dict[str, LibraryConfig]:
    """Weights of each architecture at `query.version`, with the eval transform of its config file."""
    version, backbones = _backbone_sources(query)
    urls = model_urls(backbones)
    configs = {}
    for arch in matching(query.names, [*urls, *query.eval_configs]):
        given = query.eval_config_of(arch)
        transform = eval_transform(_load_config(given, query)) if given else {}
        notes = [] if given else [f"no eval config given for {arch}: only its weights URL was read"]
        if arch not in urls:
            notes.append(f"paddleclas {version} has no MODEL_URLS entry for {arch}: its weights URL was not read")
        origin = f" and {'the standard eval transform' if given == STANDARD else given}" if given else ""
        configs[arch] = LibraryConfig(library="ppcls", arch=arch, version=version,
                                      read_from=f"paddleclas {version}{origin}", weights_url=urls.get(arch),
                                      notes=tuple(notes), **transform)
    return configs


def _backbone_sources(query: ConfigQuery) -> tuple[str, Path]:
    """The version read and the folder of its `ppcls/arch/backbone` sources."""
    installed = installed_version(DISTRIBUTION)
    if query.version is None or (installed is not None and same_release(query.version, installed)):
        spec = importlib.util.find_spec(DISTRIBUTION)  # finds the package without running it
        if installed is None or spec is None or spec.origin is None:
            raise LibraryConfigError("paddleclas is not installed; name the version to read (e.g. `ResNet50@2.5.2`)")
        return installed, Path(spec.origin).parent / "ppcls" / "arch" / "backbone"
    folder = package_folder(DISTRIBUTION, query.version, query.cache, offline=query.offline)
    return query.version, folder / DISTRIBUTION / "ppcls" / "arch" / "backbone"


def model_urls(backbones: Path) -> dict[str, str]:
    """Every `MODEL_URLS = {...}` literal under `backbones`, merged: architecture -> weights URL."""
    urls: dict[str, str] = {}
    for source in sorted(backbones.rglob("*.py")):
        for node in ast.parse(source.read_text(encoding="utf-8"), str(source)).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "MODEL_URLS" for t in node.targets):
                urls.update(ast.literal_eval(node.value))
    return urls


def _load_config(given: str, query: ConfigQuery) -> Mapping[str, Any]:
    """The PaddleClas YAML named by a path or URL (fetched once into the cache), or the standard one."""
    if given == STANDARD:
        return STANDARD_EVAL
    path = Path(given.removeprefix("file://")) if "://" not in given or given.startswith("file://") else None
    if path is None:
        path = _fetched(given, query)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise LibraryConfigError(f"cannot read the PaddleClas config {given}: {exc}") from None
    if not isinstance(loaded, dict):
        raise LibraryConfigError(f"{given} is not a PaddleClas config (a YAML mapping with `DataLoader`)")
    return loaded


def _fetched(url: str, query: ConfigQuery) -> Path:
    """A config file at `url`, downloaded into the cache once (files at a release tag do not change)."""
    from zoo.store.fetch.download import fetch

    name = url_file_name(url)
    problem = file_name_problem(name)
    if problem:
        raise LibraryConfigError(f"cannot fetch the PaddleClas config {url}: its file name {name!r} {problem}")
    target = query.cache / "configs" / hashlib.sha256(url.encode()).hexdigest()[:16] / name
    if not target.exists():
        try:
            fetch(url, target, offline=query.offline)
        except FetchError as exc:
            raise LibraryConfigError(f"cannot fetch the PaddleClas config {url}: {exc}") from None
    return target


def eval_transform(config: Mapping[str, Any]) -> dict[str, Any]:
    """The `LibraryConfig` fields a PaddleClas config's eval `transform_ops` and `Arch` state."""
    try:
        steps = config["DataLoader"]["Eval"]["dataset"]["transform_ops"]
    except (KeyError, TypeError):
        raise LibraryConfigError("a PaddleClas config needs DataLoader.Eval.dataset.transform_ops") from None
    ops = {name: dict(args or {}) for step in steps for name, args in step.items()}
    fields: dict[str, Any] = {"num_classes": (config.get("Arch") or {}).get("class_num")}
    fields |= _resize(ops.get("ResizeImage", {}))
    if "CropImage" in ops:
        size = ops["CropImage"]["size"]
        width, height = (size, size) if isinstance(size, int) else size
        fields |= {"input_size": (3, height, width), "crop_mode": "center"}
    normalise = ops.get("NormalizeImage", {})
    return fields | {
        "mean": triple(normalise.get("mean")), "std": triple(normalise.get("std")),
        "value_range": "0..1" if _scale(normalise.get("scale", "1/255")) < 1 else "0..255",
        "color": "RGB" if (ops.get("DecodeImage") or {}).get("to_rgb", True) else "BGR",
    }


def _scale(value: Any) -> float:
    """`NormalizeImage.scale`, which PaddleClas configs write as a number or as a fraction (`1.0/255.0`)."""
    if isinstance(value, int | float):
        return float(value)
    numerator, _, denominator = str(value).partition("/")
    return float(numerator) / float(denominator or 1)


def _resize(args: Mapping[str, Any]) -> dict[str, Any]:
    """`ResizeImage`: `resize_short` keeps the aspect ratio; `size` resizes both sides (squash)."""
    backend = "pil" if args.get("backend") == "pil" else "cv2"
    fields = {"interpolation": args.get("interpolation") or "bilinear", "resize_backend": backend}
    if "resize_short" in args:
        return fields | {"resize": int(args["resize_short"])}
    if "size" in args:
        size = args["size"]
        side = size if isinstance(size, int) else min(size)
        return fields | {"resize": side, "crop_mode": "squash", "input_size": (3, side, side)}
    return fields
