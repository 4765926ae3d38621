"""Unpacking untrusted tar and zip archives without letting a member escape its folder or fill the disk.

Bounds (read when an archive is unpacked, so tests and users can change them): the total size
of its members (`$ZOO_MAX_UNPACK_BYTES`), that size over the archive's own (`$ZOO_MAX_UNPACK_RATIO`,
measured against at least `RATIO_FLOOR` bytes so that small archives of text pass), and the number
of members (`$ZOO_MAX_ARCHIVE_MEMBERS`). Sizes are those the headers declare, checked before anything
is written; tarfile and zipfile then write exactly the declared number of bytes per member.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from zoo.errors import FetchError
from zoo.names import component_problem

#: Copy granularity when unpacking.
CHUNK = 1 << 20

MAX_BYTES_ENV, RATIO_ENV, MEMBERS_ENV = "ZOO_MAX_UNPACK_BYTES", "ZOO_MAX_UNPACK_RATIO", "ZOO_MAX_ARCHIVE_MEMBERS"
DEFAULT_MAX_BYTES = 16 << 30
DEFAULT_RATIO = 200
DEFAULT_MEMBERS = 100_000
RATIO_FLOOR = 64 << 10

#: Raised by tarfile's "data" filter (Python 3.11.4+); nothing to catch on older versions.
_TAR_FILTER_ERROR: Any = getattr(tarfile, "FilterError", ())
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def safe_extract(archive: Path, dest_dir: Path) -> Path:
    """Unpack a tar (.tar, .tar.gz, .tgz, ...) or .zip archive into `dest_dir`, refusing danger.

    Refused, naming the member: absolute paths, `..`, members inside a symlinked folder or
    replacing a link, symlinks and hard links that point outside, device files and FIFOs.
    Everything is unpacked into a temporary folder beside `dest_dir` and renamed into place,
    so `dest_dir` is either the whole archive or untouched.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    name = archive.name.lower()
    if name.endswith(".zip") or (not name.endswith(_TAR_SUFFIXES) and zipfile.is_zipfile(archive)):
        unpack = _unpack_zip
    elif name.endswith(_TAR_SUFFIXES) or tarfile.is_tarfile(archive):
        unpack = _unpack_tar
    else:
        raise FetchError(f"{archive} is not a tar or zip archive; cannot unpack it.")
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest_dir.parent, prefix=f".{dest_dir.name}.unpack-"))
    try:
        unpack(archive, tmp)
        _links_stay_inside(archive, tmp)
        _swap_in(tmp, dest_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest_dir


def _limit(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) <= 0:
        raise FetchError(f"${name} is {text!r}; it must be a positive whole number (unset it for {default}).")
    return int(text)


class _Budget:
    """What an archive may expand to; each member is counted before it is written."""

    def __init__(self, archive: Path):
        self.archive = archive
        self.max_bytes = _limit(MAX_BYTES_ENV, DEFAULT_MAX_BYTES)
        self.ratio = _limit(RATIO_ENV, DEFAULT_RATIO)
        self.max_members = _limit(MEMBERS_ENV, DEFAULT_MEMBERS)
        self.packed = max(archive.stat().st_size, RATIO_FLOOR)
        self.members = self.total = 0

    def add(self, size: int) -> None:
        self.members += 1
        self.total += max(size, 0)
        if self.members > self.max_members:
            self._refuse(f"has more than {self.max_members} members", MEMBERS_ENV)
        if self.total > self.max_bytes:
            self._refuse(f"expands to more than {self.max_bytes} bytes", MAX_BYTES_ENV)
        if self.total > self.ratio * self.packed:
            self._refuse(f"expands more than {self.ratio} times its own size (a compression bomb?)", RATIO_ENV)

    def _refuse(self, what: str, env: str) -> None:
        raise FetchError(f"refusing to unpack {self.archive}: it {what}; nothing was unpacked. "
                         f"If the archive is trusted and really that large, raise ${env}.")


class _MemberCheck:
    """Explicit checks of member names and link targets, and the size budget, shared by tar and zip."""

    def __init__(self, archive: Path):
        self.archive = archive
        self.links: set[PurePosixPath] = set()
        self.files: set[PurePosixPath] = set()
        self.budget = _Budget(archive)

    def refuse(self, member: str, why: str) -> FetchError:
        return FetchError(f"refusing to unpack {self.archive}: member {member!r} {why}. The archive may be malicious.")

    def path(self, member: str) -> PurePosixPath:
        """The member's path inside the folder, or an error if it could land elsewhere."""
        clean = member.replace("\\", "/")
        if clean.startswith("/") or re.match(r"^[A-Za-z]:", clean):
            raise self.refuse(member, "has an absolute path")
        parts = [p for p in clean.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise self.refuse(member, "climbs out of the folder with `..`")
        for part in parts:
            problem = component_problem(part)
            if problem:
                raise self.refuse(member, f"has a path component that {problem}")
        path = PurePosixPath(*parts) if parts else PurePosixPath(".")
        if any(parent in self.links for parent in path.parents) or path in self.links:
            raise self.refuse(member, "would be written through a symbolic link")
        return path

    def link_target(self, member: str, path: PurePosixPath, target: str, *, hard: bool) -> None:
        """Refuse a link whose target lies outside the folder (symlinks: relative to the link)."""
        clean = target.replace("\\", "/")
        if not clean or clean.startswith("/") or re.match(r"^[A-Za-z]:", clean):
            raise self.refuse(member, f"links to the absolute path {target!r}")
        base = "" if hard else str(path.parent)
        resolved = posixpath.normpath(posixpath.join(base, clean))
        if resolved == ".." or resolved.startswith("../"):
            raise self.refuse(member, f"links outside the folder ({target!r})")
        if hard and PurePosixPath(resolved) not in self.files:
            raise self.refuse(member, f"is a hard link to {target!r}, which is not a file earlier in the archive")


def _unpack_tar(archive: Path, into: Path) -> None:
    check = _MemberCheck(archive)
    try:
        with tarfile.open(archive) as tar:
            members = []
            for member in tar:  # one header at a time: a bomb is refused at its first oversized member
                check.budget.add(member.size)
                members.append(member)
                path = check.path(member.name)
                if member.ischr() or member.isblk():
                    raise check.refuse(member.name, "is a device file")
                if member.isfifo():
                    raise check.refuse(member.name, "is a FIFO")
                if member.issym():
                    check.link_target(member.name, path, member.linkname, hard=False)
                    check.links.add(path)
                elif member.islnk():
                    check.link_target(member.name, path, member.linkname, hard=True)
                    check.files.add(path)
                elif member.isfile():
                    check.files.add(path)
                elif not member.isdir():
                    raise check.refuse(member.name, "is of an unsupported type")
            tar.extractall(into, members=members, filter="data")  # checked above; the filter is defence in depth
    except _TAR_FILTER_ERROR as exc:
        refused: tarfile.TarInfo | None = getattr(exc, "tarinfo", None)
        raise check.refuse(refused.name if refused else "?", str(exc)) from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise FetchError(f"cannot unpack {archive}: {exc}. The file may be truncated or not a tar archive.") from None


def _unpack_zip(archive: Path, into: Path) -> None:
    check = _MemberCheck(archive)
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                check.budget.add(info.file_size)
            for info in zf.infolist():
                path = check.path(info.filename)
                mode = info.external_attr >> 16
                target = into / path
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                    raise check.refuse(info.filename, "is a device file")
                if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
                    raise check.refuse(info.filename, "is a FIFO or socket")
                if stat.S_ISLNK(mode):
                    link = zf.read(info).decode("utf-8", "replace")
                    check.link_target(info.filename, path, link, hard=False)
                    check.links.add(path)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.symlink(link, target)
                elif info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                else:
                    check.files.add(path)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out, CHUNK)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise FetchError(f"cannot unpack {archive}: {exc}. The file may be truncated or not a zip archive.") from None


def _links_stay_inside(archive: Path, folder: Path) -> None:
    """After unpacking, resolve every symlink for real: chains of links must not escape either."""
    root = folder.resolve()
    for dirpath, dirnames, filenames in os.walk(folder):
        for entry in (*dirnames, *filenames):
            path = Path(dirpath, entry)
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                member = path.relative_to(folder).as_posix()
                raise FetchError(
                    f"refusing to unpack {archive}: member {member!r} is a symbolic link leading outside the "
                    "folder. The archive may be malicious."
                )


def _swap_in(tmp: Path, dest_dir: Path) -> None:
    """Rename the unpacked folder onto `dest_dir`, replacing an older one."""
    if dest_dir.is_symlink() or dest_dir.is_file():
        raise FetchError(f"cannot unpack into {dest_dir}: it exists and is not a folder.")
    if not dest_dir.exists():
        os.rename(tmp, dest_dir)
        return
    old = Path(tempfile.mkdtemp(dir=dest_dir.parent, prefix=f".{dest_dir.name}.old-"))
    os.rename(dest_dir, old / "previous")
    os.rename(tmp, dest_dir)
    shutil.rmtree(old, ignore_errors=True)
