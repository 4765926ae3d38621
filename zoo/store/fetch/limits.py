"""How much one download may take: bytes, seconds and attempts, whatever the server does.

A server is untrusted: it may send an endless body, announce a terabyte, or drip one byte every
few seconds, each staying under the read timeout. So every download has a byte ceiling (the pinned
size when there is one, else `$ZOO_MAX_DOWNLOAD_BYTES`) and an overall deadline across all its
attempts (`$ZOO_DOWNLOAD_DEADLINE` seconds), and gives up after `$ZOO_FETCH_RETRIES` failed
attempts in a row that kept no new bytes. All are read when a fetch starts, so a test or a user
can change them without restarting anything.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from zoo.errors import FetchError

MAX_BYTES_ENV = "ZOO_MAX_DOWNLOAD_BYTES"
DEADLINE_ENV = "ZOO_DOWNLOAD_DEADLINE"
RETRIES_ENV = "ZOO_FETCH_RETRIES"
#: Defaults: larger than any image classifier's checkpoint; a day is slower than any sane link.
DEFAULT_MAX_BYTES = 16 << 30
DEFAULT_DEADLINE = 6 * 3600.0
DEFAULT_RETRIES = 5


@dataclass(frozen=True)
class Limits:
    """The ceiling (bytes), the deadline (seconds from the start) and the retries of one download."""

    max_bytes: int = DEFAULT_MAX_BYTES
    deadline: float = DEFAULT_DEADLINE
    retries: int = DEFAULT_RETRIES

    @classmethod
    def from_env(cls) -> Limits:
        return cls(int(_setting(MAX_BYTES_ENV, DEFAULT_MAX_BYTES)), _setting(DEADLINE_ENV, DEFAULT_DEADLINE),
                   int(_setting(RETRIES_ENV, DEFAULT_RETRIES, allow_zero=True)))


def _setting(name: str, default: float, *, allow_zero: bool = False) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value > 0 or (allow_zero and value == 0)) or value == float("inf"):
        kind = "a number >= 0" if allow_zero else "a positive number"
        raise FetchError(f"${name} is {text!r}; it must be {kind} (unset it for the default {default:g}).")
    return value


class Clock:
    """The deadline of one download, started when the download starts."""

    def __init__(self, label: str, limits: Limits) -> None:
        self.label, self.limits = label, limits
        self.ends = time.monotonic() + limits.deadline

    def left(self) -> float:
        return self.ends - time.monotonic()

    def check(self, doing: str) -> None:
        """Raise a clear error once the deadline has passed."""
        if self.left() <= 0:
            raise FetchError(
                f"cannot fetch {self.label}: {doing}, and the download took longer than its "
                f"{self.limits.deadline:g} s deadline; gave up. A slow or stalling server does this; "
                f"raise ${DEADLINE_ENV} (seconds) for a slow link, or use --weights-from DIR|URL."
            )


def too_large(label: str, nbytes: int, limits: Limits, announced: bool) -> FetchError:
    """The error for a body over the ceiling (announced by the server, or really sent)."""
    what = f"announces {nbytes} bytes" if announced else f"sent more than {nbytes} bytes"
    return FetchError(
        f"cannot fetch {label}: the server {what}, over the {limits.max_bytes}-byte download ceiling; "
        f"nothing was kept. If the file is really that large, raise ${MAX_BYTES_ENV} (bytes)."
    )
