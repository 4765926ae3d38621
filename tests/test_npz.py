"""`zoo npz`: vamp inputs round-trip to the decoded images, resume, and fail cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.factories import write_photographs
from zoo.errors import DatasetError
from zoo.measure.imaging import resize_bilinear_cv
from zoo.measure.npz import DATALIST, KEY, convert


def _data(root: Path) -> list[Path]:
    """Photographs in two sub-folders plus a grayscale and an RGBA image."""
    paths = write_photographs(root / "photos")
    extra = root / "more"
    extra.mkdir()
    Image.new("L", (30, 20), 77).save(extra / "grey.JPEG")
    Image.new("RGBA", (12, 10), (10, 20, 30, 40)).save(extra / "alpha.png")
    return sorted([*paths, extra / "grey.JPEG", extra / "alpha.png"])


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_round_trip_and_datalist(tmp_path: Path) -> None:
    images = _data(tmp_path / "data")
    result = convert(tmp_path / "data", tmp_path / "npz", workers=2)
    assert result.written == len(images) and result.kept == 0
    assert result.converted == {"L": 2, "RGBA": 1}  # camera.png and grey.JPEG are grayscale
    listed = result.datalist.read_text().splitlines()
    assert result.datalist == (tmp_path / "npz" / DATALIST).absolute()
    assert len(listed) == len(images)
    for image, line in zip(images, listed, strict=True):
        path = Path(line)
        assert path.is_absolute() and path.suffix == ".npz"
        assert path == (tmp_path / "npz" / image.relative_to(tmp_path / "data")).with_suffix(".npz").absolute()
        with np.load(path) as archive:
            assert list(archive.keys()) == [KEY]
            array = archive[KEY]
        assert array.dtype == np.uint8 and array.shape[0] == 3
        assert np.array_equal(array, _rgb(image).transpose(2, 0, 1))


def test_resize_and_resume(tmp_path: Path) -> None:
    images = _data(tmp_path / "data")
    convert(tmp_path / "data", tmp_path / "npz", size=(64, 48))
    target = tmp_path / "npz" / "photos" / "chelsea.npz"
    with np.load(target) as archive:
        assert archive[KEY].shape == (3, 64, 48)
        assert np.array_equal(archive[KEY], resize_bilinear_cv(_rgb(tmp_path / "data" / "photos" / "chelsea.jpeg"),
                                                               64, 48).transpose(2, 0, 1))
    stamp = target.stat().st_mtime_ns
    again = convert(tmp_path / "data", tmp_path / "npz", size=(64, 48))
    assert again.kept == len(images) and again.written == 0 and target.stat().st_mtime_ns == stamp
    other = convert(tmp_path / "data", tmp_path / "npz", size=(32, 32))  # another size: everything redone
    assert other.written == len(images)
    target.write_bytes(b"PK\x03\x04 broken")  # a damaged file is redone
    assert convert(tmp_path / "data", tmp_path / "npz", size=(32, 32)).written == 1


def test_unreadable_image_reported_after_the_others(tmp_path: Path) -> None:
    images = _data(tmp_path / "data")
    (tmp_path / "data" / "more" / "broken.JPEG").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError) as caught:
        convert(tmp_path / "data", tmp_path / "npz")
    assert "1 of" in str(caught.value) and "broken.JPEG" in str(caught.value)
    assert not (tmp_path / "npz" / DATALIST).exists()
    written = sorted((tmp_path / "npz").rglob("*.npz"))
    assert len(written) == len(images)  # the good ones are kept for the next run
    assert not [p for p in (tmp_path / "npz").rglob(".*")]  # no temporary files left


def test_name_clash_and_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    with pytest.raises(DatasetError, match="holds no images"):
        convert(tmp_path / "data", tmp_path / "npz")
    Image.new("RGB", (4, 4)).save(tmp_path / "data" / "a.jpg")
    Image.new("RGB", (4, 4)).save(tmp_path / "data" / "a.png")
    with pytest.raises(DatasetError, match="would both become"):
        convert(tmp_path / "data", tmp_path / "npz")


def test_command(tmp_path: Path) -> None:
    images = _data(tmp_path / "data")
    command = [sys.executable, "-m", "zoo_cli", "npz", "--data", "data", "--out", "npz", "--size", "40", "50",
               "-j", "2", "--datalist", "list.txt"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(images)} written" in result.stdout and "converted to RGB: 2 L, 1 RGBA" in result.stdout
    listed = (tmp_path / "list.txt").read_text().splitlines()
    assert len(listed) == len(images)
    with np.load(listed[0]) as archive:
        assert archive[KEY].shape == (3, 40, 50)
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert f"0 written, {len(images)} already complete" in result.stdout
