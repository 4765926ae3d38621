"""Params and MACs measured by zoo, kept in `measured.json` beside the manifests.

Both depend on the architecture and the input size only, never on the weights, so `zoo measure`
counts them once per model (converted with random weights; definitions in `zoo.measure.macs`) and
the file is committed. The docs index and plot use these numbers for every model, one convention
across the zoo (the pages' published FLOPs count differently from source to source). An entry
counts only while its `input_size` equals the manifest's; a model without one is reported by
`zoo lint` as not measured, never an error.

    {"models": {
      "timm/cspresnet50": {"input_size": [3, 256, 256], "params": 21616168, "macs": 4565013760},
      ...}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from zoo.atomic import write_if_changed
from zoo.errors import ManifestError, Problem
from zoo.manifest.schema import Model

MEASURED_NAME = "measured.json"
#: The bound on the file's size: it is read by every docs and lint run.
MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Measured:
    """One model's counts at one input size."""

    input_size: tuple[int, ...]
    params: int
    macs: int

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    @property
    def params_m(self) -> float:
        return self.params / 1e6


def measured_file(manifest: Path) -> Path:
    """The measured file of the manifest folder holding `manifest`."""
    return manifest.parent / MEASURED_NAME


def read_measured(path: Path) -> Mapping[str, Measured]:
    """Every entry of `path` by model id ({} when there is no file); a damaged file is an error
    naming it. Parsed once per version of the file (its size and modification time)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return {}
    if stat.st_size > MAX_BYTES:
        raise _damaged(path, f"larger than {MAX_BYTES} bytes")
    return _parse(path, stat.st_mtime_ns, stat.st_size)


@cache
def _parse(path: Path, mtime_ns: int, size: int) -> Mapping[str, Measured]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return {model_id: Measured(tuple(e["input_size"]), int(e["params"]), int(e["macs"]))
                for model_id, e in document["models"].items()}
    except (ValueError, UnicodeDecodeError) as exc:
        raise _damaged(path, f"not JSON ({exc})") from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise _damaged(path, f"an entry lacks or mistypes {exc}") from None


def measured_for(model: Model, manifest: Path) -> Measured | None:
    """The model's counts if its folder's file has them at the manifest's input size, else None."""
    entry = read_measured(measured_file(manifest)).get(model.id)
    return entry if entry is not None and entry.input_size == tuple(model.input_size) else None


def write_measured(path: Path, updates: Mapping[str, Measured]) -> bool:
    """Merge `updates` into `path` (one model per line, sorted: small reviewable diffs); True if changed."""
    entries = {**read_measured(path), **updates}
    lines = [f"  {json.dumps(model_id)}: {json.dumps(_entry(entries[model_id]))}" for model_id in sorted(entries)]
    text = '{"models": {\n' + ",\n".join(lines) + "\n}}\n"
    return write_if_changed(path, text.encode("utf-8"))


def _entry(measured: Measured) -> dict[str, Any]:
    return {"input_size": list(measured.input_size), "params": measured.params, "macs": measured.macs}


def _damaged(path: Path, why: str) -> ManifestError:
    return ManifestError([Problem(path, 1, 1, "", f"not a valid measured file: {why}",
                                  "delete it and run `zoo measure --all`, or restore it from version control")])
