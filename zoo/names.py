"""Names that become paths: the one place that says which untrusted text may name a file or folder.

A weights URL's last segment, a model or family name, an archive member or a sha256 all end up
joined onto a folder zoo writes into. Each is checked here, once, where it enters zoo (the
manifest schema, the fetcher, the archive unpacker, the renderer), so that no accepted name can
resolve outside its folder: no separators, no `.`/`..`, no control characters, no trailing
newline (every pattern is matched whole, with `fullmatch`), and a bounded length.

Each check returns None for a good name, else a short reason that fits after "`name` ...".
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

#: Longest name accepted, in UTF-8 bytes: what common file systems allow for one component.
MAX_NAME_BYTES = 255

_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+\-=@,~]*")
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_FAMILY = re.compile(r"[a-z0-9][a-z0-9_\-]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FORBIDDEN_IN_COMPONENT = re.compile(r"[/\\\x00-\x1f\x7f]")


def component_problem(text: str) -> str | None:
    """The least any one path component must satisfy (archive members may use any other character)."""
    if text in ("", ".", ".."):
        return f"is {text!r}, which names no file of its own"
    if _FORBIDDEN_IN_COMPONENT.search(text):
        return "holds a path separator or a control character"
    if len(text.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"is longer than {MAX_NAME_BYTES} bytes"
    return None


def file_name_problem(text: str) -> str | None:
    """A file name zoo creates from a URL or a template: a letter, digit or `_`, then `_ . + - = @ , ~` too."""
    return component_problem(text) or (
        None if _FILE_NAME.fullmatch(text) else
        "may hold only letters, digits and `_ . + - = @ , ~`, and must start with a letter, digit or `_`"
    )


def model_name_problem(text: str) -> str | None:
    """A model name: it becomes the output folder `{library}-{name}` and part of every id."""
    return component_problem(text) or (
        None if _MODEL_NAME.fullmatch(text) else "may hold letters, digits, `_`, `.` and `-` only"
    )


def family_problem(text: str) -> str | None:
    """A family slug: it names the generated page `docs/{family}.md`."""
    return component_problem(text) or (
        None if _FAMILY.fullmatch(text) else "must be a lowercase slug (letters, digits, `_`, `-`)"
    )


def is_sha256(text: str) -> bool:
    """64 lowercase hex digits, nothing before or after (a digest names a blob's path)."""
    return _SHA256.fullmatch(text) is not None


def url_file_name(url: str) -> str:
    """The decoded last path segment of `url` (`a%2F..%2Fb` decodes to `a/../b`, which checks refuse)."""
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])
