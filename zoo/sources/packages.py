"""Another version of a pure-Python library, fetched into zoo's cache and read in a child.

A manifest pins `source.version`; the installed library may be another one, and its configs
may differ (timm changed interpolations, default weights and statistics between releases).
To read the pinned version's own configs, its wheel is downloaded with the environment's pip
(`pip download --no-deps`, so PIP_INDEX_URL, PIP_FIND_LINKS, PIP_NO_INDEX and pip's config
apply) and unpacked into ``<cache>/<distribution>-<version>/``; nothing is installed into the
user's environment. The folder appears whole or not at all, and once there it is reused offline.
A library that must be imported to be read is then read by `run_reader` in a child interpreter
with that folder first on its import path (one child for a whole batch of architectures).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import zoo
from zoo.errors import LibraryConfigError
from zoo.store.fetch.archive import safe_extract

#: How long one `pip download` may take.
PIP_TIMEOUT = 600
#: How long one child reading a batch of configs may take.
READER_TIMEOUT = 600
#: Lines of pip's or a reader's error output quoted when it fails.
SHOWN_LINES = 6


def installed_version(distribution: str) -> str | None:
    """The installed version of `distribution`, None if it is not installed."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def package_folder(distribution: str, version: str, cache: Path, *, offline: bool = False) -> Path:
    """The folder holding `distribution==version` unpacked (its import path), fetched if absent."""
    folder = Path(cache) / f"{distribution}-{version}"
    if folder.is_dir():
        return folder
    if offline:
        raise LibraryConfigError(
            f"{distribution} {version} is not in the cache ({folder}) and --offline forbids downloading it; "
            "run the command once online, or without --offline"
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}.download-") as scratch:
        wheel = _download_wheel(distribution, version, Path(scratch))
        if not folder.is_dir():  # another process may have finished first
            safe_extract(wheel, folder)
    return folder


def _download_wheel(distribution: str, version: str, into: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--quiet", f"{distribution}=={version}", "-d", str(into)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise LibraryConfigError(f"downloading {distribution} {version} with pip took over {PIP_TIMEOUT} s; "
                                 "check the network or PIP_INDEX_URL") from None
    wheels = sorted(into.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        said = "\n  ".join((done.stderr or done.stdout).strip().splitlines()[-SHOWN_LINES:])
        raise LibraryConfigError(
            f"cannot download {distribution} {version} to read its configs (`pip download` exit "
            f"{done.returncode}); check the version, the network, or PIP_INDEX_URL / PIP_FIND_LINKS:\n  {said}"
        )
    return wheels[0]


def run_reader(module: str, request: dict[str, Any], import_path: list[Path], timeout: float = READER_TIMEOUT) -> Any:
    """Run `python -m module REQUEST ANSWER` with `import_path` first on its path; return the answer.

    The child starts in an empty folder, so that nothing in the current folder shadows the
    library it reads; zoo itself stays importable after `import_path`.
    """
    zoo_root = Path(zoo.__file__).resolve().parent.parent
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*map(str, import_path), str(zoo_root), *inherited])}
    with tempfile.TemporaryDirectory(prefix="zoo-reader-") as scratch:
        question, answer = Path(scratch) / "request.json", Path(scratch) / "answer.json"
        question.write_text(json.dumps(request), encoding="utf-8")
        command = [sys.executable, "-m", module, str(question), str(answer)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=scratch, env=env,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise LibraryConfigError(f"reading configs with {module} took over {timeout:.0f} s") from None
        if done.returncode != 0 or not answer.exists():
            said = "\n  ".join(done.stderr.strip().splitlines()[-SHOWN_LINES:])
            raise LibraryConfigError(f"reading configs with {module} failed (exit {done.returncode}):\n  {said}")
        return json.loads(answer.read_text(encoding="utf-8"))
