"""Labelled image folders: both layouts, the shipped class lists, and every way a folder can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.factories import LEVEL_CLASSES, class_folders, label_file, scenario
from zoo.errors import DatasetError
from zoo.measure.datasets import class_names, load_rgb, open_dataset, wnids


def test_class_lists_are_the_imagenet_1k_lists() -> None:
    names, ids = class_names(), wnids()
    assert len(names) == len(ids) == 1000
    assert names[0] == "tench, Tinca tinca" and names[1] == "goldfish, Carassius auratus"
    assert names[999] == "toilet tissue, toilet paper, bathroom tissue"
    assert ids[0] == "n01440764" and ids[999] == "n15075141"
    assert list(ids) == sorted(ids) and len(set(ids)) == 1000  # class index = rank of the sorted WordNet ids
    # both "crane"s (the bird, the machine) and both "maillot"s are distinct classes with equal names
    assert names[134] == names[517] == "crane" and ids[134] != ids[517]


def test_class_lists_agree_with_the_source_libraries() -> None:
    """The shipped lists equal timm's synsets + lemmas and PaddleClas's label list, where installed."""
    from importlib.util import find_spec

    timm_spec = find_spec("timm")
    if timm_spec is None or timm_spec.origin is None:
        pytest.skip("timm not installed")
    info = Path(timm_spec.origin).parent / "data" / "_info"
    synsets = (info / "imagenet_synsets.txt").read_text().split()
    lemmas = dict(line.split("\t", 1) for line in (info / "imagenet_synset_to_lemma.txt").read_text().splitlines())
    assert list(wnids()) == synsets
    assert list(class_names()) == [lemmas[s] for s in synsets]
    paddle_spec = find_spec("paddleclas")
    if paddle_spec is not None and paddle_spec.origin is not None:
        listing = Path(paddle_spec.origin).parent / "ppcls" / "utils" / "imagenet1k_label_list.txt"
        assert [line.split(" ", 1)[1] for line in listing.read_text().splitlines()] == list(class_names())


def test_class_folder_layout(tmp_path: Path) -> None:
    items, _, _ = scenario()
    dataset = open_dataset(class_folders(tmp_path / "val", items))
    assert dataset.layout == "class-folders" and len(dataset) == len(items)
    expected = sorted((f"{wnids()[i.label]}/{i.name}", i.label) for i in items)
    assert sorted((s.name.rsplit(".", 1)[0], s.label) for s in dataset.samples) == expected
    assert all(s.path.is_file() for s in dataset.samples)
    # the parent folder holding `val/` is accepted too
    assert open_dataset(tmp_path).samples == dataset.samples


def test_label_file_layouts(tmp_path: Path) -> None:
    items, _, _ = scenario()
    root = label_file(tmp_path / "ImageNet", items)
    by_parent = open_dataset(root)  # ImageNet/ holding val/ and val_label.txt
    by_images = open_dataset(root / "val")  # ImageNet/val/ with the label file one level up
    assert by_parent.samples == by_images.samples and by_parent.layout == "label-file"
    assert by_parent.label_file == root / "val_label.txt"
    assert {(s.name.rsplit(".", 1)[0], s.label) for s in by_parent.samples} == {(i.name, i.label) for i in items}
    # labels written as WordNet ids mean the same classes
    wnid_root = label_file(tmp_path / "wnid", items, wnid_labels=True)
    assert [s.label for s in open_dataset(wnid_root).samples] == [s.label for s in by_parent.samples]
    # an explicit label file anywhere
    moved = tmp_path / "labels.txt"
    (root / "val_label.txt").rename(moved)
    assert open_dataset(root / "val", label_file=moved).samples == by_parent.samples


def test_interleaved_subset_spreads_over_classes(tmp_path: Path) -> None:
    items, _, _ = scenario()
    dataset = open_dataset(class_folders(tmp_path, items))
    classes = len(dataset.by_class())
    first = dataset.interleaved(classes)
    assert len({s.label for s in first}) == classes  # one of each class before any second image
    assert sorted(dataset.interleaved(), key=lambda s: s.name) == list(dataset.samples)
    assert dataset.interleaved(3) == dataset.interleaved()[:3]


def _error(path: Path, **kwargs: object) -> str:
    with pytest.raises(DatasetError) as caught:
        open_dataset(path, **kwargs)  # type: ignore[arg-type]
    return str(caught.value)


def _jpeg(path: Path, colour: tuple[int, int, int] = (10, 20, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), colour).save(path)
    return path


def test_wrong_layouts_are_explained(tmp_path: Path) -> None:
    assert "does not exist" in _error(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    message = _error(tmp_path / "empty")
    assert "not a labelled image folder" in message and "n01440764" in message and "val_label.txt" in message
    _jpeg(tmp_path / "cats" / "a.jpg")
    assert "sub-folders cats" in _error(tmp_path)
    _jpeg(tmp_path / "flat" / "a.JPEG")
    message = _error(tmp_path / "flat")
    assert "no `val_label.txt`" in message and "--labels" in message
    _jpeg(tmp_path / "mixed" / "n01440764" / "a.JPEG")
    _jpeg(tmp_path / "mixed" / "b.JPEG")
    assert "mixes class folders" in _error(tmp_path / "mixed")


def test_unknown_class_folders_and_empty_classes(tmp_path: Path) -> None:
    _jpeg(tmp_path / "a" / "n01440764" / "x.JPEG")
    _jpeg(tmp_path / "a" / "n99999999" / "y.JPEG")
    message = _error(tmp_path / "a")
    assert "n99999999" in message and "not ImageNet-1k class ids" in message
    _jpeg(tmp_path / "b" / "n01440764" / "x.JPEG")
    (tmp_path / "b" / "n01443537").mkdir()
    message = _error(tmp_path / "b")
    assert "n01443537" in message and "holds no images" in message


def test_class_beyond_the_models_classes(tmp_path: Path) -> None:
    _jpeg(tmp_path / "n01443537" / "x.JPEG")  # class 1
    assert "class index 1 is beyond the model's 1 classes" in _error(tmp_path, num_classes=1)


@pytest.mark.parametrize(("lines", "fragment"), [
    ("a.JPEG 1000\n", "val_label.txt:1: label 1000 is outside 0..999"),
    ("a.JPEG -1\n", "label -1 is outside"),
    ("# header\n\na.JPEG n99999999\n", "val_label.txt:3: label 'n99999999' is neither"),
    ("a.JPEG 1\na.JPEG 2\n", "val_label.txt:2: a.JPEG is listed twice (first on line 1)"),
    ("a.JPEG\n", "val_label.txt:1: expected `<image file> <label>`"),
    ("# nothing\n", "lists no images"),
    ("a.JPEG 1\nb.JPEG 2\n", "1 image(s) listed in"),
])
def test_bad_label_files(tmp_path: Path, lines: str, fragment: str) -> None:
    _jpeg(tmp_path / "val" / "a.JPEG")
    (tmp_path / "val_label.txt").write_text(lines)
    assert fragment in _error(tmp_path)


def test_images_without_a_label_line(tmp_path: Path) -> None:
    _jpeg(tmp_path / "a.JPEG")
    _jpeg(tmp_path / "b.JPEG")
    (tmp_path / "val_label.txt").write_text("a.JPEG 3\n")
    message = _error(tmp_path)
    assert "1 image(s)" in message and "b.JPEG" in message and "no line in" in message


def test_missing_explicit_label_file(tmp_path: Path) -> None:
    _jpeg(tmp_path / "a.JPEG")
    assert "label file" in _error(tmp_path, label_file=tmp_path / "nope.txt")


def test_non_rgb_images_are_converted_and_reported(tmp_path: Path) -> None:
    items, _, _ = scenario()
    dataset = open_dataset(class_folders(tmp_path, items))
    modes = {}
    for sample in dataset.samples:
        image, mode = load_rgb(sample.path)
        assert image.mode == "RGB"
        modes[sample.name.split("/")[-1].rsplit(".", 1)[0]] = mode
        if mode != "RGB":  # the grey level survives the conversion
            pixel = image.getpixel((5, 5))
            assert pixel[0] == pixel[1] == pixel[2]
    assert modes["own_2"] == "L" and modes["own_5"] == "CMYK" and modes["own_7"] == "RGBA"
    assert sum(mode != "RGB" for mode in modes.values()) == 3


@pytest.mark.parametrize("content", [b"", b"not an image at all", "truncated"])
def test_unreadable_images_name_the_file(tmp_path: Path, content: bytes | str) -> None:
    path = tmp_path / "n01440764" / "broken.JPEG"
    path.parent.mkdir(parents=True)
    if content == "truncated":
        good = _jpeg(tmp_path / "good.jpg", (200, 100, 50))
        Image.open(good).resize((400, 400)).save(path)
        path.write_bytes(path.read_bytes()[:600])
    else:
        path.write_bytes(content)  # type: ignore[arg-type]
    with pytest.raises(DatasetError) as caught:
        load_rgb(path)
    assert str(path) in str(caught.value) and "replace or remove" in str(caught.value)


def test_level_classes_are_real_imagenet_classes() -> None:
    """The fixture's classes exist (guards the generated datasets above)."""
    assert all(0 <= c < 1000 for c in LEVEL_CLASSES) and len(set(LEVEL_CLASSES)) == len(LEVEL_CLASSES)
