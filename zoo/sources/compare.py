"""A manifest's model against its library's own config, field by field.

Fields are compared by what they mean, not how they are written:
- the size before cropping is one fact, whether written as `crop_pct` or `resize`: two
  `crop_pct` are compared as numbers, otherwise the resize sizes they give are;
- `mean` and `std` are compared on the 0..1 scale (`value_range` is a field of its own);
- accuracy, FLOPs and params agree when the library's number rounds to the manifest's, to the
  digits the manifest writes (79.55 agrees with 79.548);
- a field the library does not state, or the manifest leaves empty, is not compared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, Literal

from zoo.manifest.derived import ResizeRule, scale_size
from zoo.manifest.schema import CHECKED_FIELDS, Model, deep_merge
from zoo.sources.config import LibraryConfig

#: Statistics closer than this on the 0..1 scale are the same (255 x 1e-6 is far below a level).
STATISTICS_TOLERANCE = 1e-6
#: The two ways a manifest writes the size before cropping; compared as one fact.
RESIZE_FIELDS = ("preprocess.crop_pct", "preprocess.resize")
#: Numbers published with a limited number of digits.
ROUNDED_FIELDS = ("expected.top1", "expected.top5", "reported.flops_g", "reported.params_m")


@dataclass(frozen=True)
class Difference:
    """One field on which the manifest and the library disagree, both values as people read them."""

    field: str
    manifest: str
    library: str


def differences(model: Model, config: LibraryConfig) -> list[Difference]:
    """Every field the library states and the manifest gives that disagree, in `CHECKED_FIELDS` order."""
    stated = config.fields()
    found = [d for d in (_resize_difference(model, config),) if d is not None]
    for name in CHECKED_FIELDS:
        mine = manifest_value(model, name)
        if name in RESIZE_FIELDS or name not in stated or mine is None:
            continue
        if not _agree(name, mine, stated[name], model, config):
            found.append(Difference(name, shown(mine), shown(stated[name])))
    return sorted(found, key=lambda d: CHECKED_FIELDS.index(d.field))


def manifest_value(model: Model, name: str) -> Any:
    """The value of a dotted manifest field (`expected.top1` in percent), None where it is not given."""
    if name.startswith("expected."):
        which: Literal["top1", "top5"] = "top1" if name.endswith("top1") else "top5"
        return model.expected.percent(which) if model.expected else None
    value: Any = model
    for part in name.split("."):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value.value if isinstance(value, Enum) else value


def _agree(name: str, mine: Any, theirs: Any, model: Model, config: LibraryConfig) -> bool:
    if name in ("preprocess.mean", "preprocess.std"):
        ours = _unit_scale(mine, model.preprocess.value_range.value)
        library = _unit_scale(theirs, config.value_range or model.preprocess.value_range.value)
        return all(math.isclose(a, b, abs_tol=STATISTICS_TOLERANCE) for a, b in zip(ours, library, strict=True))
    if name in ROUNDED_FIELDS:
        return abs(float(mine) - float(theirs)) <= 0.5 * 10.0 ** -_decimals(mine) + 1e-9
    return tuple(mine) == tuple(theirs) if isinstance(mine, tuple) else mine == theirs


def _decimals(value: Any) -> int:
    """How many digits after the point a number is written with (79.55 -> 2)."""
    exponent = Decimal(str(value)).as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _unit_scale(values: tuple[float, ...], value_range: str) -> list[float]:
    return [v / 255.0 if value_range == "0..255" else v for v in values]


def _resize_difference(model: Model, config: LibraryConfig) -> Difference | None:
    """The size before cropping, whichever way each side writes it."""
    if config.crop_pct is None and config.resize is None:
        return None
    pre = model.preprocess
    name = RESIZE_FIELDS[0] if pre.crop_pct is not None else RESIZE_FIELDS[1]
    if pre.crop_pct is not None and config.crop_pct is not None:
        agree = math.isclose(pre.crop_pct, config.crop_pct, abs_tol=1e-9)
    else:
        agree = _resized(model.input_size, pre) == _resized(config.input_size or model.input_size, config)
    if agree:
        return None
    return Difference(name, _rule(pre, model.input_size), _rule(config, config.input_size or model.input_size))


def _resized(size: tuple[int, int, int], rule: ResizeRule) -> tuple[int, int]:
    _, height, width = size
    return scale_size(rule, height, width)


def _rule(rule: ResizeRule, size: tuple[int, int, int]) -> str:
    """`342`, or `crop_pct 0.875 (resize 341 at 299)`: a crop_pct is shown with the size it gives."""
    if rule.resize is not None:
        return str(rule.resize)
    height, width = _resized(size, rule)
    resized = height if height == width else f"{height}x{width}"
    return f"crop_pct {rule.crop_pct:g} (resize {resized} at {size[1]})"


def shown(value: Any) -> str:
    """A value as a manifest would write it: lists in brackets, numbers with their digits."""
    if value is None:
        return "(none)"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}" if abs(value) >= 1e-4 else repr(value)
    return str(value.value if isinstance(value, Enum) else value)


def as_library_states(model: Model, config: LibraryConfig) -> Model:
    """`model` with its input size and preprocessing replaced by what the library states.

    What zoo would render if the manifest followed the library: `zoo diff` compares files with it.
    """
    return with_preprocessing(model, config.preprocessing())


def with_preprocessing(model: Model, fragment: dict[str, Any]) -> Model:
    """`model` with the input size and preprocessing fields `fragment` (a nested manifest part) gives.

    `crop_pct` and `resize` exclude each other: a fragment stating one replaces both.
    """
    ours = model.model_dump(by_alias=True, exclude_none=True)
    pre = dict(ours["preprocess"])
    if {"crop_pct", "resize"} & fragment.get("preprocess", {}).keys():
        pre.pop("crop_pct", None)
        pre.pop("resize", None)
    return Model.model_validate(deep_merge({**ours, "preprocess": pre}, fragment))
