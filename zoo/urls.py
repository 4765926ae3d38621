"""Which URLs a manifest may name, and which local files a `file://` URL may reach.

A manifest is untrusted text: its URLs are checked whole when it loads (`zoo lint` refuses what
fails), so that nothing downstream meets a URL it cannot parse. A `file://` URL copies a local file
into the store (and from there, maybe, into a shared remote cache), so it may only name files under
the manifest's own folder or a folder the user lists in `$ZOO_FILE_ROOTS` (separated like PATH);
`file:///etc/passwd` or a key file in a home folder is refused. `--weights-from DIR` is typed by the
user on the command line and needs no such permission.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

#: Folders (separated like PATH) under which manifests' file:// URLs may name files.
FILE_ROOTS_ENV = "ZOO_FILE_ROOTS"
#: Longest URL accepted; real weights URLs are a few hundred characters.
MAX_URL_CHARS = 4096
SCHEMES = ("http", "https", "file")

_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def url_problem(url: str) -> str | None:
    """None for a URL zoo can fetch from, else what is wrong with it."""
    if len(url) > MAX_URL_CHARS:
        return f"is longer than {MAX_URL_CHARS} characters"
    if _SPACE_OR_CONTROL.search(url):
        return "holds a space or control character (percent-encode a space as %20)"
    try:
        parts = urlsplit(url)
        port = parts.port  # parsing the port raises for `:x` or `:99999`
    except ValueError as exc:
        return f"cannot be parsed ({exc})"
    if parts.scheme not in SCHEMES or not url.startswith(f"{parts.scheme}://"):
        return "must start with http://, https:// or file://"
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            return "must name a local path, like file:///data/w.pth (no host)"
        return None if parts.path.startswith("/") else "names no path"
    if not parts.hostname:
        return "has no host"
    return None if port is None or port > 0 else "has port 0"


def file_roots(manifest_dir: Path | None = None) -> list[Path]:
    """The folders file:// URLs may reach: the manifest's folder, then those in $ZOO_FILE_ROOTS."""
    roots = [manifest_dir] if manifest_dir is not None else []
    roots += [Path(p).expanduser() for p in os.environ.get(FILE_ROOTS_ENV, "").split(os.pathsep) if p]
    return roots


def outside_roots(url: str, roots: Iterable[Path]) -> str | None:
    """None when `url` is not a file URL or names a file under one of `roots`; else why it is refused."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    path = Path(url2pathname(parts.path)).resolve()
    roots = list(roots)
    if any(path.is_relative_to(root.resolve()) for root in roots):
        return None
    allowed = ", ".join(str(r) for r in roots) or "none"
    return (f"names {path}, outside the folders file:// URLs may reach (the manifest's folder and "
            f"${FILE_ROOTS_ENV}: {allowed})")
