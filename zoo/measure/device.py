"""Scoring what the accelerator returned: the VSX runtime's result text and `vamp` output folders.

The upstream workflow ends on the device: the compiled model classifies the validation images
and a script turns what it printed or saved into top-1/top-5. zoo reads the same files:

- **VSX result text**: for each image, lines `<image path>: Relay top-<k> id: <class id>, prob: <p>,
  class name: <name>` with k = 0, 1, 2, ... in order (at least five; the first five count).
- **vamp outputs**: `vamp --datalist LIST --path_output DIR` writes one `.npz` per datalist line
  with the logits under `output_0`. Outputs are paired with their inputs *by number*: the last
  run of digits in an output's file name is the 0-based position of its input in the datalist
  (`output_0.npz`, `output_12.npz`, `000012.npz`; numbering from 1 throughout is accepted too).
  Upstream's decoder pairs them in lexicographic order, which puts `10` before `2`.

The true class of an image is its line in a label file (`<image> <label>`, the label an index or
a WordNet id; matched on the path's trailing components, extension ignored, so the `.npz` of an
image finds the image's line), else its parent folder, which must be an ImageNet-1k WordNet id
(`zoo npz` mirrors class folders, so the `.npz` files keep them).

Inputs are untrusted: the text is read line by line within a size bound, each `.npz` member is
checked in its header before it is read, only plain files directly inside the output folder are
opened, and every mistake names the file and line (or output) and what to do.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

from zoo.errors import DatasetError
from zoo.measure.datasets import read_label_file, wnid_index
from zoo.measure.evaluate import TopK

if TYPE_CHECKING:
    import numpy as np

#: Points of accuracy a deployed model may lose on purpose, per dtype, on top of the sampling tolerance.
QUANTISATION_ALLOWANCE = {"int8": 1.0, "fp16": 0.5}
#: The array key vamp writes the logits under.
OUTPUT_KEY = "output_0"
#: Bounds on what is read: the result text and datalist, one line, one `.npz` file.
MAX_TEXT_BYTES = 512 << 20
MAX_LINE_CHARS = 8192
MAX_NPZ_BYTES = 16 << 20
TOP = 5

_RELAY = re.compile(
    r"^(?P<image>.+?): Relay top-(?P<k>\d+) id: (?P<id>-?\d+), prob: (?P<prob>[^,]*), class name: (?P<name>.*)$"
)
_NUMBER = re.compile(r"(\d+)(?!.*\d)")


@dataclass(frozen=True)
class Ranked:
    """One image as the device ranked it: where it is named, its true class, the device's top-5."""

    name: str
    label: int
    top5: tuple[int, ...]


@dataclass(frozen=True)
class DeviceResults:
    """Every image the device classified, in the order the results give them."""

    format: Literal["vsx", "vamp"]
    source: str
    images: tuple[Ranked, ...]

    def score(self) -> TopK:
        top1 = sum(r.top5[0] == r.label for r in self.images)
        top5 = sum(r.label in r.top5 for r in self.images)
        return TopK(len(self.images), top1, top5)


class TrueClasses:
    """The true class of an image path: a label file's line, else the parent folder's WordNet id."""

    def __init__(self, label_file: Path | None, num_classes: int):
        self.label_file, self.num_classes = label_file, num_classes
        self._by_stem: dict[str, int] = {}
        if label_file is not None:
            if not label_file.is_file():
                raise DatasetError(f"label file {label_file} does not exist")
            for name, label in read_label_file(label_file, num_classes).items():
                stem = _stem(name)
                if stem in self._by_stem:
                    raise DatasetError(f"{label_file}: two images are named {stem} (extension aside); "
                                       "the results could not tell them apart")
                self._by_stem[stem] = label

    def of(self, path: str, where: str) -> int:
        """The class of `path`, named in the results at `where` (file:line), or a `DatasetError`."""
        parts = _stem(path).split("/")
        if self.label_file is not None:
            for start in range(len(parts)):
                found = self._by_stem.get("/".join(parts[start:]))
                if found is not None:
                    return found
            raise DatasetError(f"{where}: {path} has no line in {self.label_file}; add it, or pass the label "
                               "file of these images")
        folder = parts[-2] if len(parts) > 1 else ""
        label = wnid_index().get(folder)
        if label is None:
            raise DatasetError(f"{where}: cannot tell the true class of {path}: its folder {folder!r} is not an "
                               "ImageNet-1k WordNet id (n01440764, ...); pass --labels FILE with `<image> <label>` lines")
        if label >= self.num_classes:
            raise DatasetError(f"{where}: class {folder} (index {label}) is beyond the model's {self.num_classes} classes")
        return label


def _stem(path: str) -> str:
    """`path` with forward slashes and without its extension: `n01440764/a.JPEG` -> `n01440764/a`."""
    posix = PurePosixPath(path.strip().replace("\\", "/"))
    return str(posix.with_suffix("")) if posix.suffix else str(posix)


def read_results(results: Path, *, datalist: Path | None, labels: Path | None, num_classes: int) -> DeviceResults:
    """A VSX result file, or a vamp output folder with the datalist vamp read."""
    classes = TrueClasses(labels, num_classes)
    if results.is_dir():
        if datalist is None:
            raise DatasetError(f"{results} is a folder, so vamp outputs: pass --datalist FILE, the list of .npz "
                               "inputs vamp ran on (`zoo npz` writes it), to pair each output with its image")
        return read_vamp(results, datalist, classes)
    if datalist is not None:
        raise DatasetError(f"--datalist pairs vamp outputs with their inputs; {results} is a file (VSX results), "
                           "which names its images itself: leave --datalist out")
    return read_vsx(results, classes)


# VSX result text ----------------------------------------------------------------------------


def read_vsx(path: Path, classes: TrueClasses) -> DeviceResults:
    """The images of a VSX result file (see the module docstring)."""
    ranked: list[Ranked] = []
    seen: dict[str, int] = {}
    for image, ids, first in _relay_groups(path, classes.num_classes):
        where = f"{path}:{first}"
        if image in seen:
            raise DatasetError(f"{where}: {image} appears again (first on line {seen[image]}); "
                               "one result per image, so concatenated runs must not overlap")
        seen[image] = first
        ranked.append(Ranked(image, classes.of(image, where), tuple(ids[:TOP])))
    if not ranked:
        raise DatasetError(f"{path} holds no `<image>: Relay top-0 id: ...` lines; is it the VSX runtime's result file?")
    return DeviceResults("vsx", str(path), tuple(ranked))


def _relay_groups(path: Path, num_classes: int) -> Iterator[tuple[str, list[int], int]]:
    """(image, class ids best first, line of its top-0) per image, each with at least five ranks."""
    image: str | None = None
    ids: list[int] = []
    first = 0
    for number, line in _lines(path):
        match = _RELAY.match(line)
        if match is None:
            raise DatasetError(f"{path}:{number}: expected `<image path>: Relay top-<k> id: <class id>, prob: <p>, "
                               f"class name: <name>`, got {line[:120]!r}")
        k, class_id = int(match["k"]), int(match["id"])
        if not 0 <= class_id < num_classes:
            raise DatasetError(f"{path}:{number}: class id {class_id} is outside the model's 0..{num_classes - 1}")
        if k == 0:
            if image is not None:
                yield _complete_group(path, image, ids, first, number)
            image, ids, first = match["image"], [], number
        elif image is None or match["image"] != image or k != len(ids):
            wanted = f"top-{len(ids)} of {image}" if image is not None else "a top-0 line"
            raise DatasetError(f"{path}:{number}: expected {wanted}, got top-{k} of {match['image']}; "
                               "each image needs its lines top-0, top-1, ... in order")
        ids.append(class_id)
    if image is not None:
        yield _complete_group(path, image, ids, first, None)


def _complete_group(path: Path, image: str, ids: list[int], first: int, next_line: int | None
                    ) -> tuple[str, list[int], int]:
    if len(ids) < TOP:
        end = f"line {next_line} starts the next image" if next_line else "the file ends"
        raise DatasetError(f"{path}:{first}: {image} has {len(ids)} ranked classes before {end}; top-5 needs "
                           f"{TOP} (run the runtime with top-k of at least {TOP})")
    return image, ids, first


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of the non-blank lines of a bounded text file."""
    if not path.is_file():
        raise DatasetError(f"{path} does not exist or is not a file")
    size = path.stat().st_size
    if size > MAX_TEXT_BYTES:
        raise DatasetError(f"{path} is {size} bytes, more than the {MAX_TEXT_BYTES >> 20} MiB zoo reads; "
                           "is it the right file?")
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if len(line) > MAX_LINE_CHARS:
                    raise DatasetError(f"{path}:{number}: line longer than {MAX_LINE_CHARS} characters")
                if line.strip():
                    yield number, line.rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


# vamp outputs -------------------------------------------------------------------------------


def read_vamp(folder: Path, datalist: Path, classes: TrueClasses) -> DeviceResults:
    """The images of a vamp output folder, each output paired with its datalist line by number."""
    inputs = [line.strip() for _, line in _lines(datalist)]
    if not inputs:
        raise DatasetError(f"datalist {datalist} lists no inputs")
    outputs = _paired_outputs(folder, datalist, len(inputs))
    ranked = []
    for index, (source, output) in enumerate(zip(inputs, outputs, strict=True)):
        label = classes.of(source, f"{datalist}:{index + 1}")
        ranked.append(Ranked(source, label, _top5(output, classes.num_classes)))
    return DeviceResults("vamp", f"{folder} + {datalist.name}", tuple(ranked))


def _paired_outputs(folder: Path, datalist: Path, count: int) -> list[Path]:
    """The output file of every datalist line, in datalist order."""
    numbered = _numbered_outputs(folder)
    base = 1 if 0 not in numbered and count in numbered else 0
    wanted = set(range(base, base + count))
    if set(numbered) != wanted:
        missing, extra = sorted(wanted - set(numbered)), sorted(set(numbered) - wanted)
        raise DatasetError(
            f"{folder} holds {len(numbered)} numbered .npz outputs but {datalist} lists {count} inputs"
            + (f"; no output numbered {_few(missing)}" if missing else "")
            + (f"; outputs {_few(extra)} have no datalist line" if extra else "")
            + f" (outputs are numbered from {base} by datalist line); run vamp again with this datalist, "
            "or give the datalist it ran with"
        )
    return [numbered[number] for number in sorted(numbered)]


def _numbered_outputs(folder: Path) -> dict[int, Path]:
    """Number -> `.npz` file for the plain files directly inside `folder`."""
    if not folder.is_dir():
        raise DatasetError(f"vamp output folder {folder} does not exist or is not a folder")
    numbered: dict[int, Path] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.name.endswith(".npz") or entry.name.startswith("."):
                continue
            path = Path(entry.path)
            if not entry.is_file(follow_symlinks=False):
                raise DatasetError(f"{path} is not a plain file (a link or a folder); vamp writes plain files")
            match = _NUMBER.search(entry.name[: -len(".npz")])
            if match is None:
                raise DatasetError(f"{path}: no number in the name, so no datalist line to pair it with; "
                                   "outputs are named by their input's position (output_0.npz, output_1.npz, ...)")
            number = int(match.group(1))
            if number in numbered:
                raise DatasetError(f"{numbered[number].name} and {entry.name} in {folder} both carry number {number}")
            numbered[number] = path
    return numbered


def _few(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:5])) + (f" and {len(numbers) - 5} more" if len(numbers) > 5 else "")


def _top5(path: Path, num_classes: int) -> tuple[int, ...]:
    """The five classes with the highest logits in one output (ties to the lower index)."""
    import numpy as np

    logits = read_logits(path, num_classes)
    return tuple(int(i) for i in np.argsort(-logits, kind="stable")[:TOP])


def read_logits(path: Path, num_classes: int) -> np.ndarray:
    """The `output_0` array of one vamp output as `num_classes` float64 values, read within bounds."""
    import numpy as np

    if path.stat().st_size > MAX_NPZ_BYTES:
        raise DatasetError(f"{path} is larger than {MAX_NPZ_BYTES >> 20} MiB; not the logits of one image")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if f"{OUTPUT_KEY}.npy" not in names:
                keys = ", ".join(n.removesuffix(".npy") for n in names[:5]) or "none"
                raise DatasetError(f"{path} has no `{OUTPUT_KEY}` array (keys: {keys}); vamp writes the logits "
                                   f"under {OUTPUT_KEY}")
            if archive.getinfo(f"{OUTPUT_KEY}.npy").file_size > MAX_NPZ_BYTES:
                raise DatasetError(f"{path}: `{OUTPUT_KEY}` is larger than {MAX_NPZ_BYTES >> 20} MiB unpacked")
            with archive.open(f"{OUTPUT_KEY}.npy") as member:
                array = np.lib.format.read_array(member, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"cannot read {path} as a .npz file: {exc}") from None
    if array.dtype.kind not in "fiu" or array.size != num_classes:
        raise DatasetError(f"{path}: `{OUTPUT_KEY}` is {array.dtype} of shape {list(array.shape)}; expected "
                           f"{num_classes} numbers (the model's num_classes), e.g. shape [1, {num_classes}]")
    return array.reshape(-1).astype(np.float64)
