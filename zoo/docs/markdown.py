"""Manifest text placed into generated Markdown, escaped for the place it lands in.

A manifest is written by anyone who sends a pull request, and the generated pages are read on
a web site. So whatever a manifest says appears as text: it never starts a heading, a list, a
table column, a code span, raw HTML or a link of its own. Links are made only here, and only to
http(s) addresses. Each value is escaped exactly once, when pages.py builds the page context.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

#: Line breaks of every kind (a value becomes one line) and other control characters (dropped).
_BREAKS = re.compile(r"[\r\n\v\f\x85\u2028\u2029]+")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
#: Characters that start Markdown constructs inline (code, links and images, table columns),
#: escaped with a backslash; `<` (raw HTML, autolinks) becomes an entity.
_INLINE = re.compile(r"([\\`\[\]|])")
#: What makes a line a block of its own (heading, quote, list, rule, setext underline).
_BLOCK_START = re.compile(r"^(?:[#>+\-*=_~]|\d+[.)])")
#: Characters kept as they are in a link target (RFC 3986 reserved and unreserved, and `%`).
_URL_SAFE = "!#$%&'*+,/:;=?@[]~-._"
LINK_SCHEMES = ("http", "https")


def text(value: object) -> str:
    """Inline text (a table cell, a list item, link text): one line, no markup of its own."""
    line = _CONTROL.sub("", _BREAKS.sub(" ", str(value))).strip()
    line = _INLINE.sub(r"\\\1", line)
    return line.replace("<", "&lt;")


def paragraph(value: object) -> str:
    """Text that starts a line: also never a heading, list, quote or rule."""
    line = " ".join(text(value).split())
    return f"\\{line}" if _BLOCK_START.match(line) else line


def heading(value: object) -> str:
    """The text of a heading line (`#` would be taken off its end)."""
    return text(value).replace("#", "\\#")


def code(value: object) -> str:
    """An inline code span showing `value` literally, whatever backticks it holds."""
    line = _CONTROL.sub("", _BREAKS.sub(" ", str(value)))
    fence = "`" * (max((len(run) for run in re.findall(r"`+", line)), default=0) + 1)
    padding = " " if line.startswith("`") or line.endswith("`") else ""
    return f"{fence}{padding}{line}{padding}{fence}"


def safe_url(url: str) -> bool:
    """Whether `url` may become a link: http(s) with a host, and no whitespace or control characters."""
    parts = urlsplit(url.strip())
    return parts.scheme.lower() in LINK_SCHEMES and bool(parts.netloc) and not re.search(r"[\s\x00-\x1f\x7f]", url)


def link(label: object, url: str | None) -> str:
    """`[label](url)` for an http(s) URL (its target percent-encoded so it cannot end early);
    the label alone for anything else (`javascript:`, `data:`, relative paths)."""
    if not url or not safe_url(url):
        return text(label)
    return f"[{text(label)}]({quote(url.strip(), safe=_URL_SAFE)})"
