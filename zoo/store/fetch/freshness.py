"""Whether an unpinned download is still the file its source serves, without downloading it again.

A pinned file is checked by its sha256. An unpinned one has only its source to go by: a local file
(a `--weights-from` folder, a mirror, a `file://` URL) by its path, size and modification time; an
HTTP(S) file by the validators its server sends (ETag, Last-Modified, Content-Length), asked with
one HEAD request. The stamp of the source is kept beside the download (`<file>.source.json`): the
same stamp later means the same file; a different one, or none (a server without validators),
means fetch again. A stamp holds no URL, so no credential reaches the file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo.atomic import atomic_writer
from zoo.store.fetch.places import candidates, file_name, local_path

Stamp = dict[str, Any]
_HEAD_TIMEOUT = (5.0, 10.0)


def local_stamp(url: str, mirrors: Sequence[str]) -> Stamp | None:
    """The stamp of the first local place the file would be copied from (no network), if any."""
    for place in candidates(url, mirrors, file_name(url)):
        local = local_path(place)
        if local is not None and local.is_file():
            info = local.stat()
            return {"file": str(local.resolve()), "size": info.st_size, "mtime_ns": info.st_mtime_ns}
    return None


def source_stamp(url: str, mirrors: Sequence[str], offline: bool) -> Stamp | None:
    """The stamp of the place `fetch` would take the file from: the first local file, else the
    first HTTP(S) place's validators (None offline, or when the server gives none)."""
    found = local_stamp(url, mirrors)
    if found is not None or offline:
        return found
    for place in candidates(url, mirrors, file_name(url)):
        if local_path(place) is None:
            return _http_stamp(place)
    return None


def _http_stamp(place: str) -> Stamp | None:
    import requests

    try:
        response = requests.head(place, allow_redirects=True, timeout=_HEAD_TIMEOUT)
    except requests.RequestException:
        return None
    headers = response.headers
    if response.status_code != 200 or not (headers.get("ETag") or headers.get("Last-Modified")):
        return None
    return {"place": hashlib.sha256(place.encode("utf-8")).hexdigest(), "etag": headers.get("ETag"),
            "last_modified": headers.get("Last-Modified"), "length": headers.get("Content-Length")}


def _sidecar(dest: Path) -> Path:
    return dest.with_name(dest.name + ".source.json")


def unchanged(dest: Path, stamp: Stamp | None) -> bool:
    """Whether `dest` was downloaded from a source that still has `stamp`."""
    if stamp is None or not dest.is_file():
        return False
    try:
        return bool(json.loads(_sidecar(dest).read_text(encoding="utf-8")) == stamp)
    except (OSError, ValueError):
        return False


def remember(dest: Path, stamp: Stamp | None) -> None:
    """Keep the stamp of the source `dest` was just fetched from (or forget an old one)."""
    if stamp is None:
        _sidecar(dest).unlink(missing_ok=True)
        return
    with atomic_writer(_sidecar(dest)) as handle:
        json.dump(stamp, handle, sort_keys=True)
