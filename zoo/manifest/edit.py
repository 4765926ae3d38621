"""Adding models to a family file as text, so that its comments and layout stay as they are.

A manifest is written by people: re-dumping it would drop comments, reorder keys and change
how numbers are written. So new model entries are inserted as text right after the last entry
of `models:`, indented like the entries already there (the composed YAML gives every node's
position). The result is loaded and validated before it is published atomically, so a bad
entry leaves the file untouched.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from zoo.atomic import atomic_writer
from zoo.errors import ManifestError, Problem
from zoo.manifest.catalog import load_family
from zoo.manifest.located import load_located


class _Dumper(yaml.SafeDumper):
    """Block mappings, and lists of plain values on one line (`mean: [0.485, 0.456, 0.406]`)."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flat = not any(isinstance(item, dict | list) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


def _represent_decimal(dumper: yaml.SafeDumper, data: Decimal) -> yaml.Node:
    """A number with the digits it was read with (`89.90` stays `89.90`)."""
    text = format(data, "f")
    return dumper.represent_scalar("tag:yaml.org,2002:float" if "." in text else "tag:yaml.org,2002:int", text)


#: Strings a YAML 1.2 reader (editors, check-jsonschema) takes for numbers although PyYAML does not (`914e94`).
_NUMBER_LIKE = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = '"' if _NUMBER_LIKE.fullmatch(data) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(Decimal, _represent_decimal)


def dump(data: dict[str, Any]) -> str:
    """`data` as YAML the way manifests are written by hand."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)


def entry_text(entry: dict[str, Any], indent: int) -> str:
    """One `models:` entry as block YAML, its dash at column `indent`."""
    body = dump(entry)
    lines = body.rstrip("\n").splitlines()
    pad = " " * indent
    return "".join(f"{pad}{'- ' if i == 0 else '  '}{line}\n" for i, line in enumerate(lines))


def with_models(text: str, entries: Sequence[dict[str, Any]], file: Path) -> str:
    """`text` (a family file) with `entries` appended to its `models:` sequence."""
    models = _models_node(text, file)
    last = models.value[-1]
    insert_at = _end_of_line(text, max(_content_ends(last)))
    dash_line = text.rfind("\n", 0, last.start_mark.index) + 1
    indent = text.index("-", dash_line) - dash_line
    separated = len(models.value) > 1 and _blank_line_between(text, models.value[-2], dash_line)
    added = "".join(("\n" if separated else "") + entry_text(entry, indent) for entry in entries)
    head = text[:insert_at] if text[:insert_at].endswith("\n") else text[:insert_at] + "\n"
    return head + added + text[insert_at:]


def new_family_text(family: str, defaults: dict[str, Any], entries: Sequence[dict[str, Any]], header: str,
                    about: dict[str, Any] | None = None) -> str:
    """A new family file: a comment, the family's fields (`about` may give its title, paper ...), defaults, `entries`."""
    top = {"family": family, "title": family, **(about or {}), "task": "classification", "dataset": "ImageNet-1k"}
    text = f"# {header}\n" + dump(top)
    if defaults:
        text += "\n" + dump({"defaults": defaults})
    return text + "\nmodels:\n" + "\n".join(entry_text(entry, 2) for entry in entries)


def check_text(file: Path, text: str, new_ids: Sequence[str]) -> None:
    """Raise `ManifestError` (naming `file`) unless `text` loads and every model in `new_ids` validates."""
    with tempfile.TemporaryDirectory(prefix="zoo-edit-") as scratch:
        draft = Path(scratch) / file.name
        draft.write_text(text, encoding="utf-8")
        try:
            _, models, problems = load_family(load_located(draft))
        except ManifestError as exc:
            models, problems = [], exc.problems
    missing = set(new_ids) - {model.id for _, model in models}
    if missing and not problems:
        problems = [Problem(draft, 1, 1, "models", f"{', '.join(sorted(missing))} did not load", "")]
    if problems:
        raise ManifestError([Problem(file, p.line, p.column, p.field, p.message, p.hint) for p in problems])


def publish_checked(file: Path, text: str, new_ids: Sequence[str]) -> None:
    """Write `text` to `file` atomically, once it loads and every model in `new_ids` validates."""
    check_text(file, text, new_ids)
    with atomic_writer(file) as handle:
        handle.write(text)


def _models_node(text: str, file: Path) -> yaml.SequenceNode:
    root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for key, value in root.value if isinstance(root, yaml.MappingNode) else ():
        if key.value == "models" and isinstance(value, yaml.SequenceNode) and value.value and not value.flow_style:
            return value
    raise ManifestError([Problem(file, 1, 1, "models", "no block-style `models:` list to add to",
                                 "write the models as a `- name: ...` list, one entry per model")])


def _content_ends(node: yaml.Node) -> Iterator[int]:
    """Text offsets where the values inside `node` end (flow collections count as one value)."""
    if isinstance(node, yaml.ScalarNode) or getattr(node, "flow_style", False):
        yield node.end_mark.index
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _content_ends(item)
    elif isinstance(node, yaml.MappingNode):
        for _, value in node.value:
            yield from _content_ends(value)


def _end_of_line(text: str, offset: int) -> int:
    """The start of the line after the last non-blank character before `offset` (block scalars end late)."""
    last = len(text[:offset].rstrip())
    newline = text.find("\n", last)
    return len(text) if newline < 0 else newline + 1


def _blank_line_between(text: str, previous: yaml.Node, line_start: int) -> bool:
    """Whether the entries are separated by blank lines (looked up between the last two)."""
    gap = text[_end_of_line(text, max(_content_ends(previous))):line_start]
    return any(not line.strip() for line in gap.splitlines())
