"""Load YAML while remembering where every key and value came from.

PyYAML's composer gives us nodes with marks; we build plain Python data ourselves so that
(1) each key path maps to its line and column for error messages, (2) duplicate keys are
errors instead of silently overwritten, and (3) floats keep the digits they were written
with (as `Decimal`), which reported tables must reproduce exactly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

try:  # the C composer is several times faster; fall back to pure Python
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

from zoo.errors import ManifestError, Problem

Path_ = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
#: Limits for untrusted manifests: file size, values after alias expansion, nesting depth.
MAX_BYTES = int(os.environ.get("ZOO_MAX_MANIFEST_BYTES", 4 << 20))
MAX_VALUES = int(os.environ.get("ZOO_MAX_MANIFEST_VALUES", 200_000))
MAX_DEPTH = 64
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


@dataclass
class LocatedDocument:
    """Plain data plus a map from key path to (line, column), both 1-based."""

    file: Path
    data: Any
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Path_) -> tuple[int, int]:
        """Position of the deepest known prefix of `path` (the file start if none)."""
        for end in range(len(path), -1, -1):
            found = self.positions.get(tuple(path[:end]))
            if found:
                return found
        return (1, 1)


def _scalar(node: yaml.ScalarNode, file: Path) -> Any:
    tag = node.tag
    if tag == _TAG + "float":
        text = node.value.replace("_", "")
        try:
            return Decimal(text)
        except InvalidOperation:  # .inf / .nan
            return float(yaml.safe_load(node.value))
    if tag == _TAG + "int":
        return _CONSTRUCTOR.construct_yaml_int(node)
    if tag == _TAG + "bool":
        return _CONSTRUCTOR.construct_yaml_bool(node)
    if tag == _TAG + "null":
        return None
    if tag == _TAG + "str":
        return node.value
    mark = node.start_mark
    raise ManifestError(
        [Problem(file, mark.line + 1, mark.column + 1, "", f"unsupported YAML tag {tag}", "use plain values")]
    )


class _Builder:
    """Turns composed YAML nodes into plain data, within a budget.

    Aliases (`*name`) let a few bytes name a block many times over; expanded naively, a
    "billion laughs" document needs gigabytes. So the builder counts every value it makes and
    stops at `MAX_VALUES`, refuses aliases that contain themselves, and bounds nesting depth.
    """

    def __init__(self, doc: LocatedDocument, problems: list[Problem]) -> None:
        self.doc, self.problems = doc, problems
        self.made = 0
        self.active: set[int] = set()

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.made += 1
        if self.made > MAX_VALUES or len(path) > MAX_DEPTH:
            what = f"more than {MAX_VALUES} values" if self.made > MAX_VALUES else f"deeper than {MAX_DEPTH} levels"
            raise ManifestError([_problem(self.doc.file, node, path, f"the document expands to {what}",
                                          "YAML aliases (*name) repeat whole blocks; a manifest never needs this")])
        self.doc.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node, self.doc.file)
        if id(node) in self.active:
            raise ManifestError([_problem(self.doc.file, node, path, "a YAML alias contains itself",
                                          "remove the recursive alias")])
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
        finally:
            self.active.discard(id(node))
        raise AssertionError(f"unknown YAML node {node!r}")  # pragma: no cover

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[Any, Any]:
        file, result = self.doc.file, {}
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                self.problems.append(_problem(file, key_node, path, "YAML merge keys (<<) are not supported",
                                              "use the family `defaults` block instead"))
                continue
            key = _scalar(key_node, file) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, (str, int)):
                self.problems.append(_problem(file, key_node, path, "keys must be plain strings", ""))
                continue
            key_path = (*path, key)
            if key in result:
                first = self.doc.positions[key_path]
                self.problems.append(_problem(file, key_node, key_path, f"duplicate key `{key}`",
                                              f"it was already given at line {first[0]}; keep one"))
                continue
            self.doc.positions[key_path] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = self.build(value_node, key_path)
        return result


def _problem(file: Path, node: yaml.Node, path: Path_, message: str, hint: str) -> Problem:
    return Problem(
        file, node.start_mark.line + 1, node.start_mark.column + 1, dotted(path), message, hint
    )


def dotted(path: Path_) -> str:
    """`('models', 2, 'preprocess', 'crop_pct')` -> `models[2].preprocess.crop_pct`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_located(file: Path) -> LocatedDocument:
    """Parse one YAML file; raise `ManifestError` with positions for any syntax problem."""
    try:
        size = file.stat().st_size
        if size > MAX_BYTES:
            raise ManifestError([Problem(file, 1, 1, "", f"file is {size} bytes, over the {MAX_BYTES}-byte limit",
                                         "split the family, or raise ZOO_MAX_MANIFEST_BYTES")])
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError([Problem(file, 1, 1, "", f"not UTF-8 text ({exc.reason})", "save as UTF-8")]) from None
    except OSError as exc:
        raise ManifestError([Problem(file, 1, 1, "", f"cannot read: {exc.strerror}", "")]) from None
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"YAML syntax: {exc.problem or exc.context}"
        raise ManifestError([Problem(file, line, column, "", message, "check indentation and quoting")]) from None
    except yaml.YAMLError as exc:  # e.g. multiple documents
        raise ManifestError([Problem(file, 1, 1, "", f"YAML: {exc}", "one document per file")]) from None
    doc = LocatedDocument(file, None)
    if node is None:
        raise ManifestError([Problem(file, 1, 1, "", "file is empty", "start with `family:`")])
    problems: list[Problem] = []
    doc.data = _Builder(doc, problems).build(node, ())
    if problems:
        raise ManifestError(problems)
    return doc
