"""What a source library itself says about an architecture, in the manifest's terms.

`zoo import` writes manifests from it, `zoo check` compares manifests with it, `zoo diff`
renders deployment files from it. Each library reads its own configs (`read_configs` on its
`SourceLibrary`) and returns one `LibraryConfig` per architecture; a field the library does not
state is None and is never compared. `fields()` names every stated fact by its manifest field
(``preprocess.crop_pct``), which is the one vocabulary the three commands share.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: torch hub style file names carry the first hex digits of their sha256: `resnet18-f37072fd.pth`.
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z]+$")
#: File suffix -> the manifest's `weights.format`.
WEIGHT_SUFFIXES = {".pth": "pth", ".pt": "pth", ".bin": "pth", ".safetensors": "safetensors",
                   ".pdparams": "pdparams", ".onnx": "onnx"}


@dataclass(frozen=True)
class ConfigQuery:
    """Which configs to read: architecture names (or globs) at one version of a library.

    `weights` maps an architecture to the manifest's weights URL, so a library publishing
    several checkpoints per architecture (timm tags, torchvision weight enums) reads the config
    of that one. `eval_configs` maps an architecture to its eval config file (path, URL or
    ``standard``) for a library whose package does not ship its configs (PaddleClas);
    `eval_config` is the one of every other architecture, `{arch}` in it replaced by the name.
    """

    names: tuple[str, ...]
    version: str | None  # None: the installed version
    cache: Path  # fetched packages and config files are kept here
    offline: bool = False
    weights: Mapping[str, str] = field(default_factory=dict)
    eval_configs: Mapping[str, str] = field(default_factory=dict)
    eval_config: str | None = None

    def eval_config_of(self, arch: str) -> str | None:
        """The eval config file (path, URL or ``standard``) given for `arch`, if any."""
        given = self.eval_configs.get(arch, self.eval_config)
        return given.replace("{arch}", arch) if given else None


@dataclass(frozen=True)
class LibraryConfig:
    """One architecture as its library states it; `read_from` says which package and version."""

    library: str
    arch: str
    version: str
    read_from: str
    input_size: tuple[int, int, int] | None = None
    crop_pct: float | None = None
    resize: int | None = None
    crop_mode: str | None = None
    interpolation: str | None = None
    resize_backend: str | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    value_range: str | None = None
    color: str | None = None
    num_classes: int | None = None
    weights_url: str | None = None
    top1: float | None = None  # percent
    top5: float | None = None  # percent
    params_m: float | None = None
    flops_g: float | None = None
    numbers_source: str | None = None  # where the accuracy and counts are published
    notes: tuple[str, ...] = ()

    def fields(self) -> dict[str, Any]:
        """Every fact the library states, by dotted manifest field (values as a manifest writes them)."""
        stated = {
            "input_size": self.input_size,
            "num_classes": self.num_classes,
            "preprocess.crop_pct": self.crop_pct,
            "preprocess.resize": self.resize,
            "preprocess.crop_mode": self.crop_mode,
            "preprocess.interpolation": self.interpolation,
            "preprocess.resize_backend": self.resize_backend,
            "preprocess.mean": self.mean,
            "preprocess.std": self.std,
            "preprocess.value_range": self.value_range,
            "preprocess.color": self.color,
            "weights.url": self.weights_url,
            "weights.format": weights_format(self.weights_url) if self.weights_url else None,
            "weights.hash_prefix": hash_prefix(self.weights_url) if self.weights_url else None,
            "expected.top1": self.top1,
            "expected.top5": self.top5,
            "reported.flops_g": self.flops_g,
            "reported.params_m": self.params_m,
        }
        return {name: value for name, value in stated.items() if value is not None}

    def preprocessing(self) -> dict[str, Any]:
        """The facts that decide what the network is fed, as a nested manifest fragment."""
        chosen = {k: v for k, v in self.fields().items() if k == "input_size" or k.startswith("preprocess.")}
        return nested(chosen)


def nested(dotted: Mapping[str, Any]) -> dict[str, Any]:
    """`{"preprocess.mean": m}` -> `{"preprocess": {"mean": m}}`."""
    tree: dict[str, Any] = {}
    for name, value in dotted.items():
        *parents, leaf = name.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def hash_prefix(url: str) -> str | None:
    """The sha256 prefix a torch hub style file name carries (`resnet18-f37072fd.pth` -> f37072fd)."""
    found = _HASH_IN_NAME.search(url.split("?", 1)[0])
    return found.group(1) if found else None


def weights_format(url: str) -> str | None:
    """The manifest's `weights.format` for a weights file, by its suffix (None: not one zoo loads)."""
    name = url.split("?", 1)[0].rsplit("/", 1)[-1]
    return WEIGHT_SUFFIXES.get(Path(name).suffix.lower())


def matching(names: Iterable[str], known: Iterable[str]) -> list[str]:
    """The `known` architectures each name selects: itself, or every match of a glob, in order."""
    pool = list(known)
    chosen: list[str] = []
    for name in names:
        hits = fnmatch.filter(pool, name) if is_glob(name) else [name] if name in pool else []
        chosen += [hit for hit in hits if hit not in chosen]
    return chosen


def triple(values: Any, kind: type = float) -> Any:
    """Three values as a tuple of `kind` (an input size, a mean, a std), None when there are none."""
    return tuple(kind(v) for v in values) if values else None


def is_glob(name: str) -> bool:
    return any(ch in name for ch in "*?[")


def same_release(a: str, b: str) -> bool:
    """Whether two version strings name the same release (a local suffix such as `+cu130` is ignored)."""
    return a.split("+", 1)[0].strip() == b.split("+", 1)[0].strip()
