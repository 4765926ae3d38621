"""Publishing files atomically: write a temp file beside the target, then rename it onto it.

A reader sees the old file or the new one, never half of one, and a crash (even `kill -9`)
leaves at most a hidden temp file behind. Every file zoo publishes goes through here.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def _read_umask() -> int:
    """The process's umask. Reading it means setting it and back, which races with threads that
    create files meanwhile, so it is done once, at import, before zoo starts any thread."""
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


#: The permissions `open()` gives a new file; applied to published temp files (mkstemp's are private).
NEW_FILE_MODE = 0o666 & ~_read_umask()


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temp path beside `target`; on success it replaces `target`, on error it vanishes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, NEW_FILE_MODE)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_writer(target: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temp file beside `target` for writing (text is UTF-8); publish it on success."""
    encoding = None if "b" in mode else "utf-8"
    with atomic_path(target) as tmp, open(tmp, mode, encoding=encoding) as handle:
        yield handle


def write_if_changed(path: Path, data: bytes) -> bool:
    """Publish `data` at `path` unless the file already holds exactly it; say whether it wrote."""
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    with atomic_writer(path, "wb") as handle:
        handle.write(data)
    return True
