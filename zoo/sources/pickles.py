"""Reading pickled checkpoints without running code from them, and saying why one is refused.

A pickle is a program: its GLOBAL instructions import any callable and REDUCE calls it. So a
checkpoint is read by an unpickler that knows only the handful of globals that build arrays;
anything else is refused, naming the global (or the instruction) the file asks for. The one
callable beyond numpy's constructors is `_codecs.encode(text, "latin1")`: pickle protocol 2
(Paddle before 2.1.1, Python 2 era files) stores an array's bytes through it, and with that
encoding it only turns a string into bytes. torch's weights-only unpickler allows the same.
"""

from __future__ import annotations

import codecs
import pickle
import pickletools
import re
from pathlib import Path
from typing import Any, BinaryIO

from zoo.errors import ConversionError

#: Globals that build numpy arrays, scalars and ordered dicts (and run nothing else).
ARRAY_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("collections", "OrderedDict"),
})
_LATIN1 = {"latin1", "latin-1", "latin_1", "iso-8859-1", "iso8859-1"}


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle asks for a global (or a call) beyond the allow-list; the message says which."""


def _latin1_encode(text: object, encoding: object = "utf-8", errors: object = "strict") -> bytes:
    """`_codecs.encode` as protocol-2 pickles call it: a string to bytes with latin1, nothing else."""
    if not isinstance(text, str) or not isinstance(encoding, str) or encoding.lower() not in _LATIN1:
        raise RefusedGlobal(f"call _codecs.encode on {type(text).__name__} with encoding {encoding!r} "
                            "(only latin1 text is how pickles store bytes)")
    return codecs.encode(text, "latin1")


class ArraysOnly(pickle.Unpickler):
    """An unpickler that can build numpy arrays (protocol 2 included) and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ARRAY_GLOBALS:
            return super().find_class(module, name)
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        raise RefusedGlobal(f"import {module}.{name}")


def load_arrays(handle: BinaryIO) -> Any:
    """Unpickle `handle` with `ArraysOnly` (raises `RefusedGlobal` or what a damaged pickle raises)."""
    return ArraysOnly(handle).load()


def refused(path: Path, asks_for: str, resave: str) -> ConversionError:
    """The error for a checkpoint that would run code: what it asks for, and how to re-save it safely."""
    return ConversionError(
        f"{path}: refused to load — it is a pickle that asks to {asks_for}, which would let the file run "
        f"code; zoo reads only checkpoints made of tensors and arrays. If you trust its origin, re-save just "
        f"the weights ({resave}) and point the manifest at that file."
    )


def torch_refusal(text: str) -> str | None:
    """What a refused torch pickle asks for, from the weights-only loader's message (None if the
    message is about damage, not about code)."""
    found = re.search(r"GLOBAL\s+([\w.]+)", text)
    if found:
        return f"import {found.group(1)}"
    found = re.search(r"Unsupported operand (\d+)", text)
    if found:
        return f"execute the pickle instruction {_opcode_name(int(found.group(1)))}"
    for pattern in (r"Trying to call reduce for ([^\s,]+)", r"Can only build .*?but got (<[^>]+>)"):
        found = re.search(pattern, text)
        if found:
            return f"build {found.group(1)}"
    return None


def torch_detail(text: str) -> str:
    """torch's loader message without its advice to load unsafely: the one line that says what failed."""
    text = text.split("WeightsUnpickler error:", 1)[-1]
    kept = [line.strip() for line in text.splitlines()
            if line.strip() and not re.search(r"weights_only|Check the documentation|In PyTorch 2\.6", line)]
    return kept[0].split(" was not an allowed global")[0].rstrip(".") if kept else "no detail"


def _opcode_name(code: int) -> str:
    by_code = {op.code: op.name for op in pickletools.opcodes}
    return f"{by_code.get(chr(code), 'unknown')} ({code})" if 0 <= code < 256 else str(code)
