"""The action cache: what each step computed for each cache key, and the last result per model step.

An `ActionEntry` names its output files by digest; the blobs are written first and the entry
last, and an entry whose blobs are missing counts as absent, so a crash between the two
leaves nothing that looks finished. `ActionCache` is what the pipeline needs from any tier;
`LocalActionCache` keeps entries as JSON files:

    ac/<key>.json                 one entry per key
    ac/last/<stem>-<kind>.json    the key and ingredients a model step last completed with,
                                  so that a plan can say *what* changed (and carry opt-in
                                  results forward)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from zoo.atomic import atomic_writer
from zoo.errors import StoreError
from zoo.names import component_problem, is_sha256
from zoo.store.blobs import BlobStore

_Model = TypeVar("_Model", bound=BaseModel)


class OutputFile(BaseModel):
    """One output of an entry. An entry may come from a shared remote, so both of its paths are
    checked here: a name or digest that could land outside its folder makes the entry unreadable."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Path inside the model's output folder (POSIX, may hold a sub-folder).")
    digest: str = Field(description="sha256 of the content (the store's address).")
    size: int

    @field_validator("name")
    @classmethod
    def _plain_parts(cls, value: str) -> str:
        for part in value.split("/"):
            problem = component_problem(part)
            if problem:
                raise ValueError(f"output name {value!r}: the part {part!r} {problem}")
        return value

    @field_validator("digest")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        if not is_sha256(value):
            raise ValueError(f"digest {value!r} is not 64 lowercase hex digits")
        return value


class ActionEntry(BaseModel):
    """What one step computed for one cache key. `ingredients` is what the key was hashed from."""

    model_config = ConfigDict(extra="forbid")

    key: str
    kind: str
    ingredients: dict[str, Any]
    outputs: dict[str, OutputFile] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    tool_versions: dict[str, str] = Field(default_factory=dict)
    seconds: float = 0.0
    worker: str | None = Field(None, description="Where the step was computed: a host, or a cluster worker.")


class LastResult(BaseModel):
    """The key and ingredients a model step had when it last completed (for explanations)."""

    model_config = ConfigDict(extra="forbid")

    key: str
    ingredients: dict[str, Any]


class ActionCache(Protocol):
    """Entries by cache key plus the last result of every model step."""

    def get(self, key: str) -> ActionEntry | None:
        """The entry for `key`, or None if absent, unreadable or missing a blob."""
        ...

    def put(self, entry: ActionEntry) -> None:
        """Store `entry`; refuse one whose blobs are not all there (`StoreError`)."""
        ...

    def entries(self) -> Iterator[tuple[str, ActionEntry | None]]:
        """Every (key, entry) stored, with None for an entry that cannot be read."""
        ...

    def remove(self, key: str) -> None: ...

    def last(self, stem: str, kind: str) -> LastResult | None: ...

    def set_last(self, stem: str, kind: str, key: str, ingredients: dict[str, Any]) -> None: ...

    def lasts(self) -> Iterator[LastResult]:
        """The last result of every model step."""
        ...


class LocalActionCache:
    """Entries as JSON files in a folder; an entry counts only while `blobs` has its outputs."""

    def __init__(self, folder: Path, blobs: BlobStore):
        self.folder = folder
        self.last_folder = folder / "last"
        self.blobs = blobs

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> ActionEntry | None:
        entry = _read(ActionEntry, self._path(key))
        if entry is not None and all(self.blobs.has(out.digest) for out in entry.outputs.values()):
            return entry
        return None

    def put(self, entry: ActionEntry) -> None:
        missing = [o.name for o in entry.outputs.values() if not self.blobs.has(o.digest)]
        if missing:
            raise StoreError(f"refusing to cache {entry.kind} {entry.key[:12]}: blobs missing for {missing}")
        with atomic_writer(self._path(entry.key)) as handle:
            handle.write(entry.model_dump_json(indent=1))

    def entries(self) -> Iterator[tuple[str, ActionEntry | None]]:
        for path in sorted(self.folder.glob("*.json")):
            yield path.stem, _read(ActionEntry, path)

    def remove(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def last(self, stem: str, kind: str) -> LastResult | None:
        return _read(LastResult, self.last_folder / f"{stem}-{kind}.json")

    def set_last(self, stem: str, kind: str, key: str, ingredients: dict[str, Any]) -> None:
        path = self.last_folder / f"{stem}-{kind}.json"
        text = LastResult(key=key, ingredients=ingredients).model_dump_json(indent=1)
        with contextlib.suppress(OSError):
            if path.read_text(encoding="utf-8") == text:
                return
        with atomic_writer(path) as handle:
            handle.write(text)

    def lasts(self) -> Iterator[LastResult]:
        for path in sorted(self.last_folder.glob("*.json")):
            last = _read(LastResult, path)
            if last is not None:
                yield last

    def temp_files(self) -> list[Path]:
        """Temp files of writers that were killed (for `gc`)."""
        return [*self.folder.glob(".*.tmp"), *self.last_folder.glob(".*.tmp")]


def _read(model: type[_Model], path: Path) -> _Model | None:
    """`path` parsed as `model`, or None if it is missing or unreadable (a cache miss, not an error)."""
    try:
        return model.model_validate_json(path.read_bytes())
    except (OSError, ValidationError, ValueError):
        return None
