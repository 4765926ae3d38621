"""One family folder of a VastModelZOO checkout, read as facts: its README table and its deploy files.

A VastModelZOO classification family (`cv/classification/<family>/`) keeps a README whose model
table gives, per row, the model name, a link to its source library (the link text names the
library), top-1/top-5 in percent, FLOPs or MACs (the column header says which, and in which unit),
parameters in millions and the input size. Its deployment files live in `build_in/vdsp_params/`
and `build_in/build/` (current layout) or `vacc_code/vdsp_params/` and `vacc_code/build/` (older
layout). Nothing here interprets a library's config: `zoo.migrate.entries` does that.

The folder is untrusted: files are read with a size bound, only inside the folder, and every
problem names the file (and line) it is in.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from zoo.errors import UpstreamError

#: Files larger than this are not a README or a deployment file.
MAX_FILE_BYTES = 1 << 20
#: Where the deployment files are, per layout.
LAYOUTS = {"build_in": ("build_in/vdsp_params", "build_in/build"),
           "vacc_code": ("vacc_code/vdsp_params", "vacc_code/build")}
#: File prefixes and link texts that stand for other libraries (`torch_resnet.yaml`: timm and torchvision).
ALIASES = {"torch": ("timm", "torchvision"), "ppclas": ("ppcls",), "mmpretrain": ("mmcls",),
           "torchvison": ("torchvision",)}
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_TAG = re.compile(r"link:\s*(\S+)\s*\n\s*(?:tag|branch):\s*(\S+)", re.IGNORECASE)
#: A FLOPs column header -> (what it counts, its multiplier to giga).
_COST_UNITS = {"g": Decimal(1), "b": Decimal(1), "m": Decimal("0.001")}


@dataclass(frozen=True)
class Row:
    """One row of the README model table, numbers kept as written."""

    line: int
    name: str
    library: str  # the link text, lower case: timm, torchvision, mmcls, ppcls, keras, official, ...
    link: str
    top1: Decimal | None
    top5: Decimal | None
    cost: Decimal | None  # as the column writes it
    cost_header: str  # e.g. `flops(M)`, `MACs(G)`
    params_m: Decimal | None
    input_size: int | None

    @property
    def flops_g(self) -> Decimal | None:
        """FLOPs in G, counting two operations per multiply-accumulate (a MACs column is doubled)."""
        if self.cost is None:
            return None
        header = self.cost_header.lower()
        unit = next((scale for letter, scale in _COST_UNITS.items() if f"({letter})" in header.replace(" ", "")),
                    Decimal(1))
        flops = self.cost * unit
        return flops * 2 if "mac" in header else flops


@dataclass(frozen=True)
class BuildSettings:
    """The deployment settings one build YAML states for every model of its library in the family."""

    path: Path
    dtype: str | None = None
    calibrate_mode: str | None = None
    per_channel: bool | None = None
    calib_count: int | None = None
    sampler_suffix: str | None = None
    extra_ops: str | None = None
    bgr_calibration: bool = False  # a `CvtColor` op in the calibration pipeline

    def values(self) -> dict[str, Any]:
        """The `deploy` fields it states, by name."""
        stated = {"dtype": self.dtype, "calibrate_mode": self.calibrate_mode, "per_channel": self.per_channel,
                  "calib_count": self.calib_count, "sampler_suffix": self.sampler_suffix,
                  "extra_ops": self.extra_ops}
        return {name: value for name, value in stated.items() if value is not None}


@dataclass
class Folder:
    """A family folder: its README rows, its vdsp files by stem, its build settings by library."""

    root: Path
    family: str
    layout: str
    rows: list[Row]
    tags: dict[str, str]  # library link (repository) -> the tag the README's code-source block names
    title: str = ""  # the README's first heading
    paper: tuple[str, str] | None = None  # (title, URL) of the first arXiv link
    vdsp: dict[tuple[str, str], Path] = field(default_factory=dict)  # (library, name key) -> file
    builds: dict[str, BuildSettings] = field(default_factory=dict)  # library -> settings

    def vdsp_of(self, library: str, name: str) -> Path | None:
        """The vdsp file of a model: `ppcls-mobilenet_v3_small_x0.35` is `MobileNetV3_small_x0_35`'s."""
        return self.vdsp.get((library, name_key(name)))


def name_key(name: str) -> str:
    """A model name as file names and tables both write it: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def library_names(text: str) -> tuple[str, ...]:
    """The libraries a file prefix or link text stands for (`torch` -> timm and torchvision)."""
    return ALIASES.get(text.lower(), (text.lower(),))


def read_folder(root: Path) -> Folder:
    """Read a family folder (either layout); a missing or unreadable part is an `UpstreamError` naming it."""
    if not root.is_dir():
        raise UpstreamError(f"{root}: not a folder; give a VastModelZOO family folder (e.g. cv/classification/resnet)")
    readme = root / "README.md"
    text = _text(readme, "the family's README with its model table")
    layout = next((name for name, (vdsp, _) in LAYOUTS.items() if (root / vdsp).is_dir()), "build_in")
    vdsp_dir, build_dir = (root / part for part in LAYOUTS[layout])
    heading = re.search(r"^#\s+(.+?)\s*$", text, re.MULTILINE)
    paper = re.search(r"\[([^\]]+)\]\((https?://arxiv\.org/[^)\s]+)\)", text)
    folder = Folder(root, root.name, layout, model_rows(readme, text), code_tags(text),
                    title=heading.group(1) if heading else root.name,
                    paper=(paper.group(1).strip(), paper.group(2)) if paper else None)
    for path in sorted(vdsp_dir.glob("*.json")) if vdsp_dir.is_dir() else ():
        _document(path)  # a file that does not parse is an error now, not a silent skip later
        prefix, _, name = path.name.removesuffix(".json").removesuffix("-vdsp_params").partition("-")
        for library in library_names(prefix):
            folder.vdsp[(library, name_key(name))] = path
    for path in sorted([*build_dir.glob("*.yaml"), *build_dir.glob("*.yml")]) if build_dir.is_dir() else ():
        prefix = path.stem.split("_", 1)[0].lower()
        settings = build_settings(path, _document(path))
        for library in library_names(prefix):
            folder.builds.setdefault(library, settings)
    return folder


def model_rows(readme: Path, text: str) -> list[Row]:
    """The rows of every table whose header has a `top1` column and whose rows link a source."""
    rows: list[Row] = []
    header: list[str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        cells = _cells(line)
        if cells is None:
            header = None
        elif header is None:
            header = [c.lower() for c in cells] if any(c.lower().replace("-", "") == "top1" for c in cells) else None
        elif not set("".join(cells)) <= set(":- "):
            row = _row(readme, number, header, cells)
            if row is not None:
                rows.append(row)
    if not rows:
        raise UpstreamError(f"{readme}: no model table found (a Markdown table with columns such as "
                            "`模型 | 源码 | top1 | top5 | flops(G) | params(M) | input size`, one linked source per row)")
    return rows


def code_tags(text: str) -> dict[str, str]:
    """The README's code-source block: repository link -> tag (`https://github.com/pytorch/vision` -> v0.9.0)."""
    return {link.rstrip("/"): tag for link, tag in _TAG.findall(text)}


def _row(readme: Path, line: int, header: list[str], cells: list[str]) -> Row | None:
    by_column = dict(zip(header, cells, strict=False))
    link = _LINK.search(" ".join(cells))
    if link is None or len(cells) < 3:
        return None
    cost_header = next((h for h in header if "flops" in h or "macs" in h), "")

    def number(column: str) -> Decimal | None:
        value = next((v for h, v in by_column.items() if column in h.replace("-", "").replace(" ", "")), "")
        try:
            return Decimal(value.strip()) if value.strip() not in ("", "-") else None
        except InvalidOperation:
            raise UpstreamError(f"{readme}:{line}: column {column!r} holds {value!r}, not a number; "
                                "correct the table") from None

    size = number("inputsize")
    return Row(line=line, name=cells[0].strip().replace(" ", "_"), library=library_names(link.group(1).strip())[0],
               link=link.group(2), top1=number("top1"), top5=number("top5"),
               cost=number(cost_header.replace(" ", "")) if cost_header else None, cost_header=cost_header,
               params_m=number("params"), input_size=int(size) if size is not None else None)


def _cells(line: str) -> list[str] | None:
    stripped = line.strip()
    if not stripped.startswith("|"):
        return None
    return [cell.strip() for cell in stripped.strip("|").split("|")]


def build_settings(path: Path, document: Any) -> BuildSettings:
    """The settings of a vamc build YAML, current (`backend`) or legacy (`engine`) dialect."""
    if not isinstance(document, dict):
        raise UpstreamError(f"{path}: not a vamc build YAML (expected a mapping with `backend` or `engine`)")
    dataset = document.get("dataset") or {}
    sampler = dataset.get("sampler") or {}
    ops = dataset.get("process_ops") or dataset.get("transform_ops") or []
    count = sampler.get("get_data_num")
    common: dict[str, Any] = {
        "path": path, "calib_count": count if isinstance(count, int) else None, "sampler_suffix": sampler.get("suffix"),
        "bgr_calibration": any(isinstance(op, dict) and op.get("type") == "CvtColor" for op in ops)}
    if isinstance(document.get("backend"), dict):
        backend = document["backend"]
        quantize = backend.get("quantize") or {}
        extra = (document.get("graph") or {}).get("extra_ops") or {}
        return BuildSettings(dtype=backend.get("dtype"), calibrate_mode=quantize.get("calibrate_mode"),
                             per_channel=quantize.get("quantize_per_channel"), extra_ops=extra.get("type"), **common)
    engine = document.get("engine") or {}
    calibration = engine.get("calibration") or {}
    quantize_flag = (engine.get("common") or {}).get("do_quantization")
    return BuildSettings(dtype=None if quantize_flag is None else "int8" if quantize_flag else "fp16",
                         calibrate_mode=calibration.get("quant_mode"), per_channel=calibration.get("per_channel"),
                         extra_ops=(engine.get("add_extra_ops_to_graph") or {}).get("type"), **common)


def read_document(path: Path) -> Any:
    """A vdsp JSON or build YAML, parsed; an unreadable one is an `UpstreamError` naming it."""
    return _document(path)


def _document(path: Path) -> Any:
    text = _text(path, "a deployment file")
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise UpstreamError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}); fix or remove the file") from None
    except yaml.YAMLError as exc:
        raise UpstreamError(f"{path}: not valid YAML ({' '.join(str(exc).split())}); fix or remove the file") from None


def _text(path: Path, what: str) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise UpstreamError(f"{path}: larger than {MAX_FILE_BYTES} bytes; not {what}")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UpstreamError(f"{path}: missing; a VastModelZOO family folder holds {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UpstreamError(f"{path}: cannot read {what}: {exc}") from None
