"""Checkpoints are read without running code from them: old Paddle protocol-2 files load, every
pickle that asks for more than arrays is refused naming what it asks for, and no message ever
suggests the unsafe way of loading."""

from __future__ import annotations

import collections
import pickle
import pickletools
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.factories import CodeRunningPickle
from zoo.errors import ConversionError
from zoo.sources.ppcls import load_pdparams
from zoo.sources.torch_export import load_checkpoint


def _globals(data: bytes) -> set[str]:
    return {str(arg) for op, arg, _ in pickletools.genops(data) if op.name == "GLOBAL"}


def _assert_refused(exc: pytest.ExceptionInfo[ConversionError], name: str, asks_for: str) -> None:
    text = str(exc.value)
    assert f"{name}: refused to load — it is a pickle that asks to {asks_for}" in text, text
    assert "weights_only" not in text and "truncated" not in text, text


def test_a_protocol_2_pdparams_as_old_paddle_wrote_it_loads(tmp_path: Path) -> None:
    arrays = collections.OrderedDict([
        ("conv1._conv.weight", np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32)),
        ("fc.bias", np.arange(5, dtype=np.float32)),
        ("bn._mean", np.zeros(4, np.float64)),
    ])
    data = pickle.dumps(arrays, protocol=2)  # what paddle.save did before Paddle 2.1.1
    assert "_codecs encode" in _globals(data)  # the array bytes go through _codecs.encode
    path = tmp_path / "old.pdparams"
    path.write_bytes(data)
    loaded = load_pdparams(path)
    assert list(loaded) == list(arrays)
    for key, value in arrays.items():
        np.testing.assert_array_equal(loaded[key], value)
        assert loaded[key].dtype == value.dtype


@pytest.mark.parametrize("protocol", [2, 4])
def test_a_pdparams_that_would_run_code_is_refused_naming_the_global(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pdparams"
    path.write_bytes(pickle.dumps({"w": np.zeros(2), "x": CodeRunningPickle(marker)}, protocol=protocol))
    with pytest.raises(ConversionError) as exc:
        load_pdparams(path)
    _assert_refused(exc, "evil.pdparams", "import io.open")
    assert not marker.exists()


def test_codecs_encode_is_allowed_only_as_latin1_text_to_bytes(tmp_path: Path) -> None:
    path = tmp_path / "codec.pdparams"
    # {"w": _codecs.encode("x" * 8, "rot13")}: the allowed global, asked to do something else
    path.write_bytes(b"\x80\x02}X\x01\x00\x00\x00wc_codecs\nencode\nX\x08\x00\x00\x00xxxxxxxx"
                     b"X\x05\x00\x00\x00rot13\x86R\x73.")
    with pytest.raises(ConversionError) as exc:
        load_pdparams(path)
    _assert_refused(exc, "codec.pdparams", "call _codecs.encode on str with encoding 'rot13'")


def _torch_file_with_pickle(folder: Path, name: str, data_pkl: bytes) -> Path:
    """A real `torch.save` zip whose `data.pkl` is replaced by `data_pkl` (as a crafted file would be)."""
    good = folder / "good.pth"
    torch.save({"w": torch.zeros(2)}, good)
    path = folder / name
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            body = data_pkl if info.filename.endswith("/data.pkl") else source.read(info.filename)
            target.writestr(info, body)
    return path


def test_a_torch_zip_that_would_run_code_is_refused_naming_the_global(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"conv.weight": CodeRunningPickle(marker)}}, path)
    with pytest.raises(ConversionError) as exc:
        load_checkpoint(path)
    _assert_refused(exc, "evil.pth", "import io.open")
    assert not marker.exists()


@pytest.mark.parametrize(("data_pkl", "asks_for"), [
    (b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00hi\x85R.", "import os.system"),  # a blocked module
    (b"(S'echo hi'\nios\nsystem\n.", "execute the pickle instruction STRING (83)"),  # protocol 0
    (b"\x80\x02ccollections\nOrderedDict\n)R}X\x01\x00\x00\x00ak\x06sb.", "execute the pickle instruction "),
])
def test_a_crafted_torch_pickle_is_refused_not_called_corrupt(tmp_path: Path, data_pkl: bytes, asks_for: str) -> None:
    with pytest.raises(ConversionError) as exc:
        load_checkpoint(_torch_file_with_pickle(tmp_path, "crafted.pth", data_pkl))
    _assert_refused(exc, "crafted.pth", asks_for)


def test_a_truncated_torch_file_is_called_corrupt_without_unsafe_advice(tmp_path: Path) -> None:
    path = tmp_path / "cut.pth"
    torch.save({"w": torch.zeros(1000)}, path)
    path.write_bytes(path.read_bytes()[:600])
    with pytest.raises(ConversionError, match=r"cut\.pth: not a readable PyTorch checkpoint \(truncated") as exc:
        load_checkpoint(path)
    assert "weights_only" not in str(exc.value) and "refused" not in str(exc.value)
