"""Reading what zoo generated back, as a reader sees it: Markdown pages (sections, table rows)
and deployment files (JSON or YAML, the vamp dialect's config list)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml


def section(page: str, heading: str) -> str:
    """The text under `heading` (e.g. "## Models", "### T4") up to the next heading of the same or higher level."""
    level = heading.split(" ", 1)[0]
    lines = page.splitlines()
    start = lines.index(heading)  # ValueError names a missing heading
    body = []
    for line in lines[start + 1:]:
        match = re.match(r"^(#+) ", line)
        if match and len(match.group(1)) <= len(level):
            break
        body.append(line)
    return "\n".join(body)


def cells(line: str) -> list[str]:
    """The cells of one Markdown table row (escaped pipes stay inside their cell)."""
    parts = re.split(r"(?<!\\)\|", line.strip())
    return [part.strip() for part in parts[1:-1]]


def table_rows(text: str) -> list[list[str]]:
    """Every table row in `text`, header and separator rows included."""
    return [cells(line) for line in text.splitlines() if line.startswith("|")]


def rows_starting(text: str, first_cell: str) -> list[list[str]]:
    """The table rows of `text` whose first cell is exactly `first_cell`."""
    return [row for row in table_rows(text) if row and row[0] == first_cell]


def one_row(text: str, first_cell: str) -> list[str]:
    """The one table row of `text` whose first cell is `first_cell` (fails if there are none or several)."""
    rows = rows_starting(text, first_cell)
    assert len(rows) == 1, f"expected one row starting {first_cell!r}, found {len(rows)} in:\n{text}"
    return rows[0]


def model_cell(name: str, stem: str) -> str:
    """How the Models table writes a model: its name, linked to its deploy section."""
    return f"[{name}](#{stem.lower()})"


def parse(path: Path) -> Any:
    """A generated file, parsed as JSON or YAML by its suffix."""
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def vamp_values(doc: dict[str, Any]) -> dict[str, Any]:
    """The vamp dialect's config list as {Property: Value}."""
    return {entry["Property"]: entry["Value"] for entry in doc["config"]}
