"""Read timm's pretrained configs, in a child interpreter whose import path holds the timm to read.

Run as ``python -m zoo.sources.timm_child REQUEST.json ANSWER.json`` by `zoo.sources.timm`:
the request names architectures or globs and, per architecture, the weights URL a manifest
uses; the answer holds timm's version and, per architecture, the raw config values (input
size, crop, interpolation, statistics, weights location). This module imports timm and the
standard library only and works with timm 0.6 (configs are dicts) and timm 0.9+ (configs are
`PretrainedCfg` objects, several tagged checkpoints per architecture).
"""

from __future__ import annotations

import fnmatch
import json
import sys
from typing import Any

#: The config keys zoo reads; everything else timm keeps is left behind.
KEYS = ("tag", "url", "hf_hub_id", "hf_hub_filename", "input_size", "test_input_size", "crop_pct", "test_crop_pct",
        "crop_mode", "interpolation", "mean", "std", "num_classes")


def pretrained_cfg(name: str) -> dict[str, Any]:
    """timm's pretrained config of `name` (`arch` or `arch.tag`) as a dict; empty when it has none."""
    from timm.models import get_pretrained_cfg

    found = get_pretrained_cfg(name)
    if found is None:
        return {}
    as_dict = found if isinstance(found, dict) else found.to_dict()
    return {key: as_dict[key] for key in KEYS if as_dict.get(key) not in (None, "")}


def expand(names: list[str]) -> list[str]:
    """Each name itself, or the architectures a glob matches among those with pretrained weights."""
    import timm

    chosen: list[str] = []
    for name in names:
        if any(ch in name for ch in "*?["):
            found = [n.split(".", 1)[0] for n in timm.list_models(name, pretrained=True)]
        else:
            found = [name] if timm.is_model(name) else []
        chosen += [n for n in found if n not in chosen]
    return chosen


def tag_for(arch: str, weights_url: str | None) -> str:
    """`arch` itself (its default checkpoint), or `arch.tag` whose file is `weights_url` (timm 0.9+)."""
    import timm

    if not weights_url or "." in arch or not hasattr(timm, "list_pretrained"):
        return arch
    file_name = weights_url.rstrip("/").rsplit("/", 1)[-1]
    for tagged in timm.list_pretrained(f"{arch}.*"):
        url = pretrained_cfg(tagged).get("url", "")
        if url == weights_url or (url and fnmatch.fnmatchcase(url, f"*/{file_name}")):
            return tagged
    return arch


def main(request_path: str, answer_path: str) -> None:
    import timm

    with open(request_path, encoding="utf-8") as handle:
        request = json.load(handle)
    configs = {}
    for arch in expand(request["names"]):
        name = tag_for(arch, request["weights"].get(arch))
        cfg = pretrained_cfg(name)
        if cfg:
            configs[arch] = {"name": name, **cfg}
    with open(answer_path, "w", encoding="utf-8") as handle:
        json.dump({"version": timm.__version__, "configs": configs}, handle)


if __name__ == "__main__":
    main(*sys.argv[1:3])
