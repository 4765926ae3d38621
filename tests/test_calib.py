"""`zoo calib`: stratified, deterministic selection written as a folder of links plus its label list."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from zoo.errors import DatasetError
from zoo.measure.calib import allocate, select, write
from zoo.measure.datasets import open_dataset, wnids

#: images per class of the generated dataset: uneven on purpose
SIZES = {0: 9, 3: 1, 7: 4, 65: 2, 281: 20, 999: 6}


def _dataset(root: Path, sizes: dict[int, int] = SIZES) -> Path:
    for label, count in sizes.items():
        folder = root / wnids()[label]
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            Image.new("RGB", (8, 8), (label % 256, index * 10, 0)).save(folder / f"{wnids()[label]}_{index:03d}.JPEG")
    return root


def zoo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "zoo_cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_allocation_is_proportional_and_covers_every_class() -> None:
    for count in range(len(SIZES), sum(SIZES.values()) + 1):
        allocation = allocate(SIZES, count)
        assert sum(allocation.values()) == count
        assert all(1 <= allocation[c] <= SIZES[c] for c in SIZES)
    # 6 guaranteed + 18 spread over the 36 spare images: half of each class's spare, the four
    # half-image remainders (7, 65, 281, 999) tie and go to the two lowest class indices
    allocation = allocate(SIZES, 24)
    assert allocation == {0: 5, 3: 1, 7: 3, 65: 2, 281: 10, 999: 3}
    assert allocation[281] >= allocation[0] >= allocation[7] >= allocation[3]
    assert allocate({c: 50 for c in range(1000)}, 1000) == {c: 1 for c in range(1000)}  # ImageNet val
    with pytest.raises(DatasetError, match="cannot represent all 6 classes"):
        allocate(SIZES, 5)
    with pytest.raises(DatasetError, match="fewer than the 43 requested"):
        allocate(SIZES, 43)


def test_selection_is_stratified_and_deterministic(tmp_path: Path) -> None:
    dataset = open_dataset(_dataset(tmp_path / "val"))
    chosen = select(dataset, 12, seed=7)
    assert len(chosen) == 12 and {s.label for s in chosen} == set(SIZES)
    assert [s.name for s in select(dataset, 12, seed=7)] == [s.name for s in chosen]
    assert [s.name for s in select(dataset, 12, seed=8)] != [s.name for s in chosen]
    # the picks of one class do not move when another class gains images
    more = open_dataset(_dataset(tmp_path / "more", {**SIZES, 999: 40}))
    again = select(more, 12, seed=7)
    assert [s.name for s in again if s.label == 0] == [s.name for s in chosen if s.label == 0]


def test_expected_classes(tmp_path: Path) -> None:
    dataset = open_dataset(_dataset(tmp_path / "val"))
    with pytest.raises(DatasetError, match=r"images of 6 classes, not 1000; classes without an image: 1 \(goldfish"):
        select(dataset, 100, expect_classes=1000)
    assert len(select(dataset, 6, expect_classes=6)) == 6


def test_written_folder_is_a_dataset_of_links(tmp_path: Path) -> None:
    dataset = open_dataset(_dataset(tmp_path / "val"))
    chosen = select(dataset, 12)
    written = write(chosen, tmp_path / "calib")
    assert written.images == 12 and not written.unchanged and not written.warnings
    assert written.methods == {"hard link": 12}  # same file system
    for sample in chosen:
        copy = tmp_path / "calib" / Path(sample.name).name
        assert os.path.samefile(copy, sample.path)
    again = open_dataset(tmp_path / "calib")  # val_label.txt makes it a label-file dataset
    assert [(Path(s.name).name, s.label) for s in again.samples] == [(Path(s.name).name, s.label) for s in chosen]
    assert write(chosen, tmp_path / "calib").unchanged
    with pytest.raises(DatasetError, match="already exists and does not hold this selection"):
        write(select(dataset, 12, seed=1), tmp_path / "calib")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".calib")]  # no staging left behind


def test_same_file_name_in_two_classes_and_non_jpeg(tmp_path: Path) -> None:
    for label in (0, 1):
        folder = tmp_path / "val" / wnids()[label]
        folder.mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(folder / "img.png")
    written = write(select(open_dataset(tmp_path / "val"), 2), tmp_path / "calib")
    names = sorted(p.name for p in (tmp_path / "calib").iterdir())
    assert names == sorted([f"{wnids()[0]}_img.png", f"{wnids()[1]}_img.png", "val_label.txt"])
    assert written.warnings and "JPEG" in written.warnings[0]


def test_command(tmp_path: Path) -> None:
    _dataset(tmp_path / "val")
    result = zoo("calib", "--data", "val", "--count", "10", "--out", "calib", "--seed", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "10 images of 6 classes" in result.stdout and "--calib-dir" in result.stdout
    listing = (tmp_path / "calib" / "val_label.txt").read_text().splitlines()
    assert len(listing) == 10
    result = zoo("calib", "--data", "val", "--count", "10", "--out", "calib", "--seed", "3", cwd=tmp_path)
    assert result.returncode == 0 and "already holds this selection" in result.stdout
    result = zoo("calib", "--data", "val", "--count", "3", "--out", "other", cwd=tmp_path)
    assert result.returncode == 1 and "cannot represent all 6 classes" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "other").exists()


def test_render_points_the_build_yaml_at_the_set(tmp_path: Path) -> None:
    import yaml

    _dataset(tmp_path / "val")
    assert zoo("calib", "--data", "val", "--count", "6", "--out", "calib", cwd=tmp_path).returncode == 0
    calib = str((tmp_path / "calib").absolute())
    result = zoo("render", "timm/cspresnet50", "--calib-dir", calib, "--out", "rendered", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    build = next((tmp_path / "rendered").rglob("*.yaml"))
    assert yaml.safe_load(build.read_text())["dataset"]["path"] == calib
