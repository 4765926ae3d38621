"""One exception hierarchy for everything a user can get wrong.

The CLI prints a `ZooError` as its message, without a traceback; anything else is a bug
and keeps its traceback. Messages say what is wrong, where, and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class ZooError(Exception):
    """A problem the user can fix: bad input, missing file, failed check."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One located complaint about a manifest: where, what, and how to fix it."""

    file: Path
    line: int
    column: int
    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        field = f" {self.field}:" if self.field else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{where}:{field} {self.message}{hint}"


class ManifestError(ZooError):
    """A manifest file failed to parse or validate; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class SelectionError(ZooError):
    """An id, glob or filter selected nothing (the message lists close matches)."""


class RenderError(ZooError):
    """A template or rendered file is wrong (names template, line, variable)."""


class FetchError(ZooError):
    """A download or copy of weights failed (names the URL, never its credentials)."""


class IntegrityError(FetchError):
    """Fetched bytes do not match the pinned digest or size."""


class StoreError(ZooError):
    """The content-addressed store is inconsistent or unwritable."""


class RemoteError(StoreError):
    """The remote cache tier cannot be reached, refused a request, or holds a corrupt blob."""


class StepError(ZooError):
    """A pipeline step failed for a reason the user can act on."""


class ConversionError(StepError):
    """Weights could not be turned into ONNX (bad checkpoint, missing keys, unsafe pickle)."""


class ValidationFailed(StepError):
    """The exported graph does not compute what the source framework computes."""


class MeasureError(StepError):
    """A graph cannot be measured exactly (e.g. its shapes cannot be inferred to count MACs)."""


class DocsError(ZooError):
    """The documentation cannot be generated: a sync record is broken or a family name clashes."""


class DatasetError(ZooError):
    """An evaluation or calibration dataset has the wrong layout or unreadable content."""


class SourceLibraryError(ZooError):
    """A source library is unknown, or a plugin library cannot be loaded or registered."""


class RecordError(ZooError):
    """A `record.json` in an output folder cannot be read (names the file and what to do)."""


class LibraryConfigError(ZooError):
    """A source library's own config cannot be read: no such architecture or version, offline, bad file."""


class ConfigsUnsupported(LibraryConfigError):
    """The source library does not read its own configs, so its models cannot be checked against them."""


class UpstreamError(ZooError):
    """A folder of an existing zoo (`zoo import vmz`) cannot be read: names the file, line and what to do."""
