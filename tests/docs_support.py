"""Reading generated Markdown pages back: sections and table rows, as a reader sees them."""

from __future__ import annotations

import re


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
    rows = rows_starting(text, first_cell)
    assert len(rows) == 1, f"expected one row starting {first_cell!r}, found {len(rows)} in:\n{text}"
    return rows[0]


def model_cell(name: str, stem: str) -> str:
    """How the Models table writes a model: its name, linked to its deploy section."""
    return f"[{name}](#{stem.lower()})"
