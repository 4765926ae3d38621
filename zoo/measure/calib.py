"""The int8 calibration set: a deterministic, stratified sample of a labelled image folder in
which every class is represented, written as a flat folder plus its label list.

Allocation: each class present gets one image, and the remaining `count - classes` images are
shared in proportion to what each class has left, by largest remainder (ties to the lower class
index). On the ImageNet validation set (50 images per class) 1000 images are one per class.

Choice within a class: the images with the smallest sha256 of `"<seed>:<name>"`. That depends
only on the seed and the image names, so the same folder and seed give the same selection on
any machine and Python version, and adding images to one class leaves the others' picks alone.

Output: `OUT/<image>` (hard link to the original where possible, else a symbolic link, else a
copy) and `OUT/val_label.txt` (`<image> <class index>` lines), so the folder is itself a dataset
in the label-file layout (`zoo eval --data OUT` works) and the vamc build YAML can point at it
(`zoo render --calib-dir OUT`). The folder is assembled under a temporary name and renamed into
place, so an interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from zoo.errors import DatasetError
from zoo.measure.datasets import LABEL_FILE, Dataset, Sample, class_names

#: The file suffix the vamc calibration sampler reads (`sampler.suffix` in the build YAML).
VAMC_SUFFIX = "JPEG"


def allocate(sizes: dict[int, int], count: int) -> dict[int, int]:
    """Images to take per class: one each, the rest proportional to what each class has left."""
    if count < len(sizes):
        raise DatasetError(
            f"a calibration set of {count} images cannot represent all {len(sizes)} classes; "
            f"use --count {len(sizes)} or more"
        )
    total = sum(sizes.values())
    if count > total:
        raise DatasetError(f"the dataset holds {total} images, fewer than the {count} requested; lower --count")
    allocation = dict.fromkeys(sizes, 1)
    spare = {label: size - 1 for label, size in sizes.items()}
    remaining = count - len(sizes)
    capacity = sum(spare.values())
    if remaining == 0 or capacity == 0:
        return allocation
    # quota = remaining * left / capacity, kept as integer quotient and remainder (exact)
    shares = {label: divmod(remaining * left, capacity) for label, left in spare.items()}
    for label, (whole, _) in shares.items():
        allocation[label] += whole
    leftover = remaining - sum(whole for whole, _ in shares.values())
    by_remainder = sorted(shares, key=lambda label: (-shares[label][1], label))
    for label in by_remainder[:leftover]:
        allocation[label] += 1
    return allocation


def select(dataset: Dataset, count: int, *, seed: int = 0, expect_classes: int | None = None) -> list[Sample]:
    """A stratified selection of `count` images, sorted by name (see the module docstring).

    `expect_classes` demands that many classes be present (e.g. 1000 for ImageNet-1k) and
    names the missing ones otherwise.
    """
    groups = dataset.by_class()
    if expect_classes is not None and len(groups) != expect_classes:
        missing = [label for label in range(expect_classes) if label not in groups]
        names = class_names()
        shown = ", ".join(f"{label} ({names[label]})" if label < len(names) else str(label) for label in missing[:5])
        raise DatasetError(
            f"{dataset.root} has images of {len(groups)} classes, not {expect_classes}"
            + (f"; classes without an image: {shown}{' ...' if len(missing) > 5 else ''}" if missing else "")
        )
    allocation = allocate({label: len(members) for label, members in groups.items()}, count)
    chosen: list[Sample] = []
    for label, members in groups.items():
        ranked = sorted(members, key=lambda sample: _rank(seed, sample.name))
        chosen += ranked[: allocation[label]]
    return sorted(chosen, key=lambda sample: sample.name)


def _rank(seed: int, name: str) -> str:
    return hashlib.sha256(f"{seed}:{name}".encode()).hexdigest()


@dataclass
class CalibrationSet:
    """Where the set was written and how its files got there."""

    folder: Path
    label_file: Path
    images: int
    methods: Counter[str] = field(default_factory=Counter)  # "hard link" / "symbolic link" / "copy"
    unchanged: bool = False
    warnings: list[str] = field(default_factory=list)


def write(samples: list[Sample], out: Path) -> CalibrationSet:
    """Write the selection to `out` (see the module docstring); an identical existing set is kept."""
    names = flat_names(samples)
    listing = "".join(f"{names[s.name]} {s.label}\n" for s in samples)
    label_file = out / LABEL_FILE
    warnings = []
    odd = sorted({Path(n).suffix for n in names.values() if not n.endswith("." + VAMC_SUFFIX)})
    if odd:
        warnings.append(
            f"some images end in {', '.join(odd)}; the vamc build YAML samples files ending in "
            f"{VAMC_SUFFIX} only, so edit `sampler.suffix` or convert them"
        )
    if out.exists() and any(out.iterdir()):
        if label_file.is_file() and label_file.read_text(encoding="utf-8") == listing and all(
            (out / n).exists() for n in names.values()
        ):
            return CalibrationSet(out, label_file, len(samples), unchanged=True, warnings=warnings)
        raise DatasetError(
            f"{out} already exists and does not hold this selection; remove it or choose another --out"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    methods: Counter[str] = Counter()
    try:
        for sample in samples:
            methods[_place(sample.path, staging / names[sample.name])] += 1
        (staging / LABEL_FILE).write_text(listing, encoding="utf-8")
        if out.exists():
            out.rmdir()  # empty (checked above); rename needs the name free on every platform
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return CalibrationSet(out, label_file, len(samples), methods, warnings=warnings)


def flat_names(samples: list[Sample]) -> dict[str, str]:
    """File name of each sample in the flat output folder: its own name, unless two samples
    share one (same file name in two class folders); those get their folder path as a prefix."""
    counts = Counter(Path(s.name).name for s in samples)
    return {
        s.name: Path(s.name).name if counts[Path(s.name).name] == 1 else s.name.replace("/", "_")
        for s in samples
    }


def _place(source: Path, target: Path) -> str:
    """Hard link, else symbolic link, else copy `source` to `target`; returns which."""
    try:
        os.link(source, target)
        return "hard link"
    except OSError:
        pass
    try:
        os.symlink(source.resolve(), target)
        return "symbolic link"
    except OSError:
        shutil.copy2(source, target)
        return "copy"
