"""Masking credentials in URLs and in text that quotes them, by one rule everywhere.

Every URL zoo prints, logs or stores goes through `redact`; messages that quote a library's
error (which may contain a URL) go through `redact_text`.
"""

from __future__ import annotations

import os
import re

_SECRET_WORDS = r"token|secret|passw|pwd|sig|credential|key|auth|session"
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)[^/\s?#]*@")
_SECRET_PARAM = re.compile(
    rf"(?P<lead>[?&;])(?P<name>[^=&;#\s]*(?:{_SECRET_WORDS})[^=&;#\s]*)=[^&;#\s'\"]*", re.IGNORECASE
)


def redact(url: str | os.PathLike[str]) -> str:
    """`url` safe to print: `user:password@` and secret-looking query values become `***`."""
    return redact_text(os.fspath(url))


def redact_text(text: str) -> str:
    """`text` with every URL credential in it masked (for messages quoting a library's error)."""
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    return _SECRET_PARAM.sub(r"\g<lead>\g<name>=***", text)
