"""Labelled image folders in the layouts people keep the ImageNet validation set in.

Two layouts are recognised, and nothing else is guessed:

- **class folders**: one folder per class named by its WordNet id (`val/n01440764/*.JPEG`),
  as torchvision's `ImageFolder` and timm expect; images may sit in sub-folders of a class;
- **label file**: images in one folder plus `val_label.txt` with one `<file name> <label>`
  line per image (`ILSVRC2012_val_00000001.JPEG 65`), as the deployment guides prepare it.
  The label is a class index or a WordNet id. The file may sit in the image folder or in
  its parent (`ImageNet/val/` + `ImageNet/val_label.txt`).

The 1000 ImageNet-1k class names and WordNet ids ship with the package (`zoo/data/`), in
class-index order. Images are decoded with Pillow and converted to RGB the way timm's and
torchvision's loaders do (`Image.convert("RGB")`); the original mode is returned so that
callers can count the grayscale, CMYK and RGBA images they converted.
"""

from __future__ import annotations

import functools
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from zoo.errors import DatasetError

if TYPE_CHECKING:
    from PIL import Image

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
LABEL_FILE = "val_label.txt"
#: File name endings read as images (case-insensitive).
IMAGE_SUFFIXES = frozenset({".jpeg", ".jpg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
_WNID = re.compile(r"n\d{8}")
_LAYOUTS_HELP = (
    "expected either one folder per class named by WordNet id (DIR/n01440764/*.JPEG) or images "
    f"in one folder plus `{LABEL_FILE}` (lines `ILSVRC2012_val_00000001.JPEG 65`)"
)


@functools.cache
def class_names() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names in class-index order (`tench, Tinca tinca`, ...)."""
    return tuple((DATA_DIR / "imagenet_labels.txt").read_text(encoding="utf-8").splitlines())


@functools.cache
def wnids() -> tuple[str, ...]:
    """The 1000 ImageNet-1k WordNet ids in class-index order (`n01440764`, ...)."""
    return tuple((DATA_DIR / "imagenet_wnids.txt").read_text(encoding="utf-8").split())


@functools.cache
def wnid_index() -> dict[str, int]:
    """WordNet id -> ImageNet-1k class index."""
    return {wnid: index for index, wnid in enumerate(wnids())}


@dataclass(frozen=True)
class Sample:
    """One labelled image: where it is, its class index, and its name inside the dataset."""

    path: Path
    label: int
    name: str


@dataclass(frozen=True)
class Dataset:
    """A labelled image folder, its samples in a stable order (sorted by name)."""

    root: Path
    layout: Literal["class-folders", "label-file"]
    samples: tuple[Sample, ...]
    label_file: Path | None = None

    def __len__(self) -> int:
        return len(self.samples)

    def by_class(self) -> dict[int, list[Sample]]:
        """Samples grouped by class index, classes in ascending order."""
        groups: dict[int, list[Sample]] = defaultdict(list)
        for sample in self.samples:
            groups[sample.label].append(sample)
        return dict(sorted(groups.items()))

    def describe(self) -> str:
        where = f"{self.root} + {self.label_file.name}" if self.label_file else str(self.root)
        return f"{len(self.samples)} images in {len(self.by_class())} classes ({self.layout}: {where})"

    def interleaved(self, limit: int | None = None) -> tuple[Sample, ...]:
        """Samples ordered round-robin over the classes (first of each class, then the second, ...).

        Taking the first N of this order gives a subset spread over the classes, whatever the
        layout (sorted class folders would otherwise give N images of the first classes).
        """
        ranked = []
        for members in self.by_class().values():
            ranked += [(rank, sample.label, sample.name, sample) for rank, sample in enumerate(members)]
        ordered = tuple(item[-1] for item in sorted(ranked, key=lambda item: item[:3]))
        return ordered if limit is None else ordered[:limit]


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()


def find_images(folder: Path, *, recursive: bool = True) -> list[Path]:
    """Image files under `folder` (hidden files skipped), sorted by path."""
    pattern = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in pattern if is_image(p) and not _hidden(p, folder))


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def open_dataset(path: Path | str, *, label_file: Path | str | None = None, num_classes: int = 1000) -> Dataset:
    """Recognise the layout of `path` and list its labelled images.

    `label_file` forces the label-file layout with that file. Raises `DatasetError` naming
    the folder, file and line for a layout it does not recognise, an unknown WordNet id, a
    label out of range, a listed image that is missing, an image without a label, or an
    empty folder.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist or is not a folder")
    if label_file is not None:
        labels = Path(label_file).expanduser()
        if not labels.is_file():
            raise DatasetError(f"label file {labels} does not exist")
        return _label_file_layout(root, labels, num_classes)
    subfolders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    images_here = find_images(root, recursive=False)
    class_folders = [p for p in subfolders if _WNID.fullmatch(p.name)]
    if class_folders:
        if images_here:
            raise DatasetError(
                f"{root} mixes class folders ({class_folders[0].name}, ...) with images "
                f"({images_here[0].name}, ...); {_LAYOUTS_HELP}"
            )
        return _class_folder_layout(root, subfolders, num_classes)
    if images_here:
        for candidate in (root / LABEL_FILE, root.parent / LABEL_FILE):
            if candidate.is_file():
                return _label_file_layout(root, candidate, num_classes)
        raise DatasetError(
            f"{root} holds {len(images_here)} images but no `{LABEL_FILE}` (looked in {root} and "
            f"{root.parent}); pass --labels FILE, or {_LAYOUTS_HELP}"
        )
    if (root / "val").is_dir():
        return open_dataset(root / "val", num_classes=num_classes)
    what = f"sub-folders {', '.join(p.name for p in subfolders[:3])}" if subfolders else "no images"
    raise DatasetError(f"{root} is not a labelled image folder (found {what}); {_LAYOUTS_HELP}")


def _class_folder_layout(root: Path, subfolders: Sequence[Path], num_classes: int) -> Dataset:
    index = wnid_index()
    unknown = [p.name for p in subfolders if p.name not in index]
    if unknown:
        raise DatasetError(
            f"{root}: folder(s) {', '.join(unknown[:5])} are not ImageNet-1k class ids "
            f"(WordNet ids such as n01440764); remove or rename them"
        )
    samples: list[Sample] = []
    for folder in subfolders:
        label = index[folder.name]
        if label >= num_classes:
            raise DatasetError(f"{folder}: class index {label} is beyond the model's {num_classes} classes")
        images = find_images(folder)
        if not images:
            raise DatasetError(f"class folder {folder} holds no images; remove it or add its images")
        samples += [Sample(p, label, p.relative_to(root).as_posix()) for p in images]
    return Dataset(root, "class-folders", tuple(samples))


def _label_file_layout(root: Path, label_file: Path, num_classes: int) -> Dataset:
    listed = read_label_file(label_file, num_classes)
    images = {p.relative_to(root).as_posix(): p for p in find_images(root)}
    if not images:
        raise DatasetError(f"{root} holds no images ({_LAYOUTS_HELP})")
    missing = [name for name in listed if name not in images]
    if missing:
        raise DatasetError(
            f"{len(missing)} image(s) listed in {label_file} are not in {root} (first: {missing[0]}); "
            "check that the label file belongs to this folder"
        )
    unlabelled = sorted(set(images) - set(listed))
    if unlabelled:
        raise DatasetError(
            f"{len(unlabelled)} image(s) in {root} have no line in {label_file} "
            f"(first: {unlabelled[0]}); add their labels or move them out"
        )
    samples = tuple(Sample(images[name], label, name) for name, label in sorted(listed.items()))
    return Dataset(root, "label-file", samples, label_file)


def read_label_file(path: Path, num_classes: int) -> dict[str, int]:
    """`name -> class index` from a `<name> <label>` file; the label is an index or a WordNet id."""
    index = wnid_index()
    labels: dict[str, int] = {}
    lines: dict[str, int] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read label file {path}: {exc}") from None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.rsplit(maxsplit=1)
        if len(parts) != 2:
            raise DatasetError(f"{path}:{number}: expected `<image file> <label>`, got {stripped!r}")
        name, raw = parts
        if raw.lstrip("-").isdigit():
            label = int(raw)
            if not 0 <= label < num_classes:
                raise DatasetError(f"{path}:{number}: label {label} is outside 0..{num_classes - 1}")
        elif raw in index:
            label = index[raw]
        else:
            raise DatasetError(
                f"{path}:{number}: label {raw!r} is neither a class index nor an ImageNet-1k WordNet id"
            )
        if name in labels:
            raise DatasetError(f"{path}:{number}: {name} is listed twice (first on line {lines[name]})")
        labels[name] = label
        lines[name] = number
    if not labels:
        raise DatasetError(f"label file {path} lists no images")
    return labels


def load_rgb(path: Path) -> tuple[Image.Image, str]:
    """Decode an image and convert it to RGB; returns the image and its original mode.

    Raises `DatasetError` naming the file when it cannot be decoded (truncated, not an image).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            mode = image.mode
            rgb = image.convert("RGB")
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise DatasetError(f"cannot read image {path}: {exc}; replace or remove the file") from None
    return rgb, mode


def conversion_summary(modes: Counter[str]) -> dict[str, int]:
    """Images per original mode that had to be converted to RGB (RGB itself left out)."""
    return {mode: count for mode, count in sorted(modes.items()) if mode != "RGB"}
