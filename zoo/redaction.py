"""Masking credentials in URLs and in text that quotes them, by one rule everywhere.

Every URL zoo prints, logs or stores goes through `redact`; messages that quote a library's
error (which may contain a URL) go through `redact_text`, and JSON data written or printed
(records, cache keys and entries, lock files, `--json` output) through `redact_data`. The rule:
the user-info part of a URL (`user:password@`, a raw `#` or `?` in the password included) and
the value of every query or fragment parameter whose name looks secret become `***`.
"""

from __future__ import annotations

import os
import re
from typing import Any

_SECRET_WORDS = r"token|secret|pass|pw|jwt|bearer|sig|credential|key|auth|session|cookie|private|otp"
#: `scheme://` then user-info up to the last `@` before the path: a password may hold `#`, `?` or `@`.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)[^/\s]*@")
_SECRET_PARAM = re.compile(
    rf"(?P<lead>[?&;#])(?P<name>[^=&;#\s]*(?:{_SECRET_WORDS})[^=&;#\s]*)=[^&;\s'\"]*", re.IGNORECASE
)


def redact(url: str | os.PathLike[str]) -> str:
    """`url` safe to print: `user:password@` and secret-looking query values become `***`."""
    return redact_text(os.fspath(url))


def redact_text(text: str) -> str:
    """`text` with every URL credential in it masked (for messages quoting a library's error)."""
    if "@" not in text and "=" not in text:  # neither rule can match: most strings, checked fast
        return text
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    return _SECRET_PARAM.sub(r"\g<lead>\g<name>=***", text)


def redact_data(value: Any) -> Any:
    """JSON-like data (dicts, lists, tuples, strings) with every string redacted, keys included."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_data(v) for v in value)
    return value
