"""Inputs for the `vamp` benchmark runner: one `.npz` per image plus a datalist.

Each image is decoded to RGB and stored as a uint8 array in CHW order under the key `input_0`
(uncompressed `numpy.savez`, as the upstream script writes it), at `OUT/<sub-folder>/<stem>.npz`
mirroring the image's place under the data folder. The datalist holds the absolute `.npz`
paths, one per line, in the images' sorted order.

`size` resizes every image to exactly `height x width` first, with the VDSP engine's
`BILINEAR_CV` resize (`zoo.measure.imaging.resize_bilinear_cv`): use the `IimageHeight` /
`IimageWidth` of the model's vdsp_params (its resize size, `zoo show` prints it), since vamp
feeds the arrays to VDSP as images of that size.

Resumable: an `.npz` whose header already says `input_0`, uint8, 3 x height x width is kept;
every file is written to a temporary name and renamed into place, so a file that exists is
complete. Work runs in a thread pool (Pillow's decoding and file writes release the GIL).
"""

from __future__ import annotations

import os
import zipfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.atomic import atomic_writer
from zoo.errors import DatasetError
from zoo.measure.datasets import IMAGE_SUFFIXES, conversion_summary, find_images, load_rgb

KEY = "input_0"
DATALIST = "npz_datalist.txt"


@dataclass
class NpzResult:
    """What a conversion run did."""

    written: int
    kept: int
    datalist: Path
    converted: dict[str, int] = field(default_factory=dict)


def targets(root: Path, out: Path, images: list[Path]) -> dict[Path, Path]:
    """The `.npz` path of each image; two images that would share one are an error."""
    mapping: dict[Path, Path] = {}
    seen: dict[Path, Path] = {}
    for image in images:
        target = (out / image.relative_to(root)).with_suffix(".npz")
        if target in seen:
            raise DatasetError(f"{seen[target]} and {image} would both become {target}; rename one of them")
        seen[target] = image
        mapping[image] = target
    return mapping


def convert(
    root: Path,
    out: Path,
    *,
    size: tuple[int, int] | None = None,
    datalist: Path | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> NpzResult:
    """Convert every image under `root` (see the module docstring).

    Unreadable images do not stop the others; they are reported together at the end as a
    `DatasetError`, and the datalist is then not written.
    """
    root, out = root.expanduser().absolute(), out.expanduser().absolute()
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist or is not a folder")
    images = find_images(root)
    if not images:
        raise DatasetError(f"{root} holds no images (files ending in {', '.join(sorted(IMAGE_SUFFIXES))})")
    if size is not None and min(size) <= 0:
        raise DatasetError(f"--size must be two positive numbers (height width), got {size[0]} {size[1]}")
    mapping = targets(root, out, images)
    modes: Counter[str] = Counter()
    failures: list[str] = []
    kept = 0
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1, thread_name_prefix="zoo-npz") as pool:
        futures = [pool.submit(_one, image, mapping[image], size) for image in images]
        for future in futures:
            try:
                mode = future.result()
            except DatasetError as exc:
                failures.append(str(exc))
            else:
                if mode is None:
                    kept += 1
                else:
                    modes[mode] += 1
            if progress:
                progress(1)
    if failures:
        raise DatasetError(
            f"{len(failures)} of {len(images)} image(s) could not be converted (the others were; run again after "
            f"fixing them to finish the datalist): " + "; ".join(failures[:3]) + (" ..." if len(failures) > 3 else "")
        )
    listing = out / DATALIST if datalist is None else datalist.expanduser().absolute()
    with atomic_writer(listing) as handle:
        handle.writelines(f"{mapping[image]}\n" for image in images)
    return NpzResult(len(images) - kept, kept, listing, conversion_summary(modes))


def _one(image: Path, target: Path, size: tuple[int, int] | None) -> str | None:
    """Write one `.npz`; returns the image's original mode, or None if a complete file was kept."""
    import numpy as np

    from zoo.measure.imaging import resize_bilinear_cv

    if _complete(target, size or _image_size(image)):
        return None
    decoded, mode = load_rgb(image)
    pixels = np.asarray(decoded)
    if size is not None:
        pixels = resize_bilinear_cv(pixels, *size)
    with atomic_writer(target, "wb") as handle:
        arrays: dict[str, Any] = {KEY: np.ascontiguousarray(pixels.transpose(2, 0, 1))}
        np.savez(handle, **arrays)
    return mode


def _image_size(image: Path) -> tuple[int, int] | None:
    """(height, width) from the image header without decoding it; None if unreadable."""
    from PIL import Image

    try:
        with Image.open(image) as opened:
            return opened.height, opened.width
    except (OSError, ValueError):
        return None


def _complete(target: Path, size: tuple[int, int] | None) -> bool:
    """Whether `target` already holds `input_0` as uint8 3 x height x width (header check only)."""
    import numpy as np

    if size is None or not target.is_file():
        return False
    try:
        with zipfile.ZipFile(target) as archive, archive.open(f"{KEY}.npy") as member:
            version = np.lib.format.read_magic(member)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = reader(member)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False
    return dtype == np.uint8 and tuple(shape) == (3, *size)
