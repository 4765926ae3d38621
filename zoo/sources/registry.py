"""The source libraries zoo knows, by name: the built-ins and the plugins.

Built-in libraries are modules of this package, each with a `LIBRARY` object, imported only
when their name is first asked for. Plugins are libraries kept outside zoo; they are found
through the `zoo.sources` entry-point group of an installed package, or through
``$ZOO_SOURCES=package.module:ATTR[,package.module:ATTR]``. Worker processes inherit both
(the environment and the installed packages), so a spawned worker finds what its parent found.

Importing this module imports nothing heavy (the standard library, `zoo.errors`, `zoo.sources.base` and the
manifest schema), and hands the registry to the schema (`schema.use_libraries`): manifests are validated
against the libraries it knows. The `zoo` package imports it, so any use of zoo has it wired.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping
from importlib import metadata

from zoo.errors import SourceLibraryError
from zoo.manifest import schema
from zoo.sources.base import SourceLibrary

#: Built-in library name -> the module holding its `LIBRARY`.
BUILT_IN: dict[str, str] = {
    name: f"zoo.sources.{name}" for name in ("timm", "torchvision", "mmcls", "ppcls", "onnx", "python")
}
#: The attribute of a built-in module that holds its library.
ATTRIBUTE = "LIBRARY"
#: The entry-point group plugins register under.
ENTRY_POINT_GROUP = "zoo.sources"
#: Comma-separated `package.module:ATTR` references to plugin libraries.
PLUGINS_ENV = "ZOO_SOURCES"
#: What a library name may look like (it becomes part of model ids and file names).
_NAME = re.compile(r"[a-z][a-z0-9_]*")


class Registry:
    """Libraries by name. The module functions below use one shared instance; tests make their own."""

    def __init__(self, built_in: Mapping[str, str] = BUILT_IN, environ: Mapping[str, str] = os.environ) -> None:
        self._built_in = dict(built_in)
        self._environ = environ
        self._libraries: dict[str, SourceLibrary] = {}
        self._plugins_loaded = False

    def register(self, library: SourceLibrary, origin: str = "") -> SourceLibrary:
        """Add `library` under its name; the same object again is a no-op, another one an error."""
        return self._add(library, origin or repr(library))

    def _add(self, candidate: object, origin: str) -> SourceLibrary:
        library = _checked(candidate, origin)
        known = self._libraries.get(library.name)
        if known is None and library.name in self._built_in:
            known = self._load_built_in(library.name)
        if known is not None and known is not library:
            raise SourceLibraryError(
                f"source library `{library.name}` is registered twice: {known!r} and {origin}; rename one of them"
            )
        self._libraries[library.name] = library
        return library

    def get(self, name: str) -> SourceLibrary:
        """The library called `name`; an unknown name is an error listing the known ones."""
        if name in self._libraries:
            return self._libraries[name]
        if name in self._built_in:
            return self._load_built_in(name)
        self._load_plugins()
        if name in self._libraries:
            return self._libraries[name]
        raise SourceLibraryError(
            f"unknown source library {name!r}; known libraries: {', '.join(self.names())} "
            f"(a plugin library is registered through ${PLUGINS_ENV} or the `{ENTRY_POINT_GROUP}` entry points)"
        )

    def names(self) -> list[str]:
        """Every library name, built-in and plugin, sorted."""
        self._load_plugins()
        return sorted(self._built_in.keys() | self._libraries.keys())

    def _load_built_in(self, name: str) -> SourceLibrary:
        module = importlib.import_module(self._built_in[name])
        library = _checked(getattr(module, ATTRIBUTE), f"{module.__name__}:{ATTRIBUTE}")
        self._libraries[name] = library
        return library

    def _load_plugins(self) -> None:
        """Register every plugin once: entry points first, then `$ZOO_SOURCES` in its order."""
        if self._plugins_loaded:
            return
        for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
            origin = f"entry point `{entry.name} = {entry.value}` of the `{ENTRY_POINT_GROUP}` group"
            try:
                loaded = entry.load()
            except Exception as exc:  # a plugin's import may fail in any way
                raise SourceLibraryError(f"cannot load the source library plugin of {origin}: {exc}") from exc
            self._add(loaded, origin)
        for reference in _references(self._environ.get(PLUGINS_ENV, "")):
            self._add(_load_reference(reference), f"`{reference}` (from ${PLUGINS_ENV})")
        self._plugins_loaded = True  # only now: a broken plugin is reported by every lookup, not once


def _references(value: str) -> list[str]:
    """The `package.module:ATTR` items of `$ZOO_SOURCES`; a malformed item is an error."""
    references = [item.strip() for item in value.split(",") if item.strip()]
    for reference in references:
        module, _, attribute = reference.partition(":")
        if not module or not attribute:
            raise SourceLibraryError(
                f"${PLUGINS_ENV} item {reference!r} is not of the form package.module:ATTR "
                f"(e.g. {PLUGINS_ENV}=mylib.zoo_source:LIBRARY)"
            )
    return references


def _load_reference(reference: str) -> object:
    module_name, _, attribute = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a plugin's import may fail in any way
        raise SourceLibraryError(
            f"cannot import the source library plugin `{reference}` (from ${PLUGINS_ENV}): {exc}; "
            "install it, add its folder to PYTHONPATH, or remove it from the variable"
        ) from exc
    if not hasattr(module, attribute):
        raise SourceLibraryError(f"source library plugin `{reference}` (from ${PLUGINS_ENV}): "
                                 f"module {module_name} has no attribute {attribute!r}")
    return getattr(module, attribute)


def _checked(library: object, origin: str) -> SourceLibrary:
    """`library` once it is a complete `SourceLibrary`; else an error naming `origin`."""
    if not isinstance(library, SourceLibrary):
        raise SourceLibraryError(
            f"{origin} is {type(library).__name__}, not a SourceLibrary instance (see zoo/sources/base.py)"
        )
    missing = [attribute for attribute in SourceLibrary.REQUIRED if not hasattr(library, attribute)]
    if missing:
        raise SourceLibraryError(f"source library {origin} does not set {', '.join(missing)}")
    if not isinstance(library.name, str) or not _NAME.fullmatch(library.name):
        raise SourceLibraryError(
            f"source library {origin} has the name {library.name!r}; use lowercase letters, digits and `_`"
        )
    return library


_SHARED = Registry()


def register(library: SourceLibrary) -> SourceLibrary:
    """Register `library` in this process (workers need it too: prefer an entry point or $ZOO_SOURCES)."""
    return _SHARED.register(library)


def get(name: str) -> SourceLibrary:
    """The library called `name` (`SourceLibraryError` listing the known ones if there is none)."""
    return _SHARED.get(name)


def names() -> list[str]:
    """Every known library name, sorted."""
    return _SHARED.names()


class _Shared:
    """The shared registry seen through the manifest schema's `Libraries` interface."""

    def names(self) -> list[str]:
        return names()

    def get(self, name: str) -> SourceLibrary:
        return get(name)


schema.use_libraries(_Shared())
