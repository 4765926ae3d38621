"""What installs each source library: zoo's pip extra, plus the packages that must follow with
`--no-deps` because their own pins conflict with the extra's (mmpretrain wants an mmcv that needs
compiling, paddleclas pins an old numpy). `zoo install`, `zoo doctor` and the error of a converter
whose framework is missing all read it here.
"""

from __future__ import annotations

import sys
from importlib import metadata

from zoo.errors import ConversionError, SelectionError

#: Extras that install something, in the order `zoo doctor` lists them.
EXTRAS = ("timm", "torchvision", "mmcls", "ppcls", "dask")
#: extra -> distributions installed after it with `--no-deps`, at the versions zoo is tested with.
NO_DEPS: dict[str, tuple[str, ...]] = {"mmcls": ("mmpretrain==1.2.0",), "ppcls": ("paddleclas==2.6.0",)}


def requirements(extra: str) -> list[str]:
    """The requirements zoo's metadata declares for `extra` (`all` expands to every extra)."""
    if extra == "all":
        return [r for name in EXTRAS for r in requirements(name)]
    if extra not in EXTRAS:
        raise SelectionError(f"unknown extra {extra!r}; choose from {', '.join(EXTRAS)} or all")
    marker = f'extra == "{extra}"'
    declared = metadata.requires("zoo") or []
    return [r.split(";")[0].strip() for r in declared if marker in r.replace("'", '"')]


def install_commands(extras: list[str], python: str = sys.executable) -> list[list[str]]:
    """The pip commands that give `extras` a working converter: the extras' requirements, then
    the `--no-deps` packages."""
    chosen = list(EXTRAS) if "all" in extras else extras
    pip = [python, "-m", "pip", "install"]
    commands = [pip + sorted({r for extra in chosen for r in requirements(extra)})]
    no_deps = [p for extra in chosen for p in NO_DEPS.get(extra, ())]
    if no_deps:
        commands.append(pip + ["--no-deps", *no_deps])
    return commands


def missing_module(library: str, extra: str | None, exc: ModuleNotFoundError) -> ConversionError:
    """The error of a converter whose framework is not installed, naming the command that installs it."""
    what = f"the {library} converter needs the Python module `{exc.name}`, which is not installed"
    if extra is None:
        return ConversionError(f"{what}; install the package that provides it (`pip install ...`), then sync again")
    return ConversionError(f"{what}; run `zoo install {extra}` (or see `zoo doctor`), then sync again")
