"""Where a weights file's bytes may come from: the mirrors in order, then its URL; and the file name
it is saved under, checked once here because it is joined onto mirror folders and the store."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit
from urllib.request import url2pathname

from zoo.errors import FetchError
from zoo.names import file_name_problem, url_file_name
from zoo.redaction import redact


def file_name(url: str) -> str:
    """The last path segment of `url`, decoded, if it is a safe file name (it is joined onto mirror folders)."""
    if local_path(url) is not None and urlsplit(url).scheme != "file":
        name = Path(url).name
    else:
        name = url_file_name(url)
    if not name:
        raise FetchError(f"{redact(url)} names no file (it ends with `/`); point it at the file itself.")
    problem = file_name_problem(name)
    if problem:
        raise FetchError(f"{redact(url)}: its file name {name!r} (decoded) {problem}; refusing to fetch it. "
                         "Point the URL at a plainly named file, or fetch it yourself and use --weights-from DIR.")
    return name


def local_path(place: str) -> Path | None:
    """The local path a plain path or file:// URL names; None for http(s) URLs."""
    parts = urlsplit(place)
    if parts.scheme in ("http", "https"):
        return None
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise FetchError(f"{redact(place)}: a file:// URL must name a local path, like file:///data/w.pth")
        return Path(url2pathname(parts.path))
    if len(parts.scheme) > 1:  # one letter is a Windows drive, not a scheme
        raise FetchError(f"{redact(place)}: unsupported scheme `{parts.scheme}`; use http(s)://, file:// or a path")
    return Path(place).expanduser()


def candidates(url: str, mirrors: Sequence[str], name: str) -> list[str]:
    """Where to look, in order: each mirror (with the file name added), then `url` itself."""
    places: list[str] = []
    for mirror in map(os.fspath, mirrors):
        local = local_path(mirror)
        if local is None:
            parts = urlsplit(mirror)
            path = parts.path if url_file_name(mirror) == name else parts.path.rstrip("/") + "/" + quote(name)
            places.append(urlunsplit(parts._replace(path=path)))
        elif local.name == name and not local.is_dir():
            places.append(str(local))
        else:
            places.append(str(local / name))
    places.append(url)
    return list(dict.fromkeys(places))
