"""Each library's own config reader, against the real installed libraries (and timm 0.6.5 from a local index)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import paddleclas_config
from zoo.errors import ConfigsUnsupported, LibraryConfigError
from zoo.manifest.schema import CHECKED_FIELDS
from zoo.sources import registry
from zoo.sources.config import ConfigQuery, hash_prefix, same_release
from zoo.sources.packages import installed_version

TIMM = installed_version("timm") or ""
RESNET50_TV = "https://download.pytorch.org/models/resnet50-0676ba61.pth"


def read(library: str, *names: str, version: str | None = None, cache: Path, **query: object) -> dict:
    return registry.get(library).read_configs(ConfigQuery(names, version, cache, **query))  # type: ignore[arg-type]


def test_timm_installed_configs_in_one_child(tmp_path: Path) -> None:
    configs = read("timm", "inception_v3", "ghostnet_100", "resnet50", "cspres*", "no_such_arch", cache=tmp_path,
                   weights={"resnet50": RESNET50_TV})
    assert sorted(configs) == ["cspresnet50", "cspresnext50", "ghostnet_100", "inception_v3", "resnet50"]
    inception = configs["inception_v3"]
    assert (inception.input_size, inception.crop_pct, inception.interpolation) == ((3, 299, 299), 0.875, "bicubic")
    assert inception.mean == inception.std == (0.5, 0.5, 0.5)
    assert inception.fields()["weights.hash_prefix"] == "1a9a5a14"
    assert configs["ghostnet_100"].interpolation == "bicubic"  # timm 1.0 changed it (0.6.5: bilinear)
    # the manifest's checkpoint picks its tag: torchvision's resnet50 weights, bilinear at 0.875
    resnet = configs["resnet50"]
    assert (resnet.weights_url, resnet.crop_pct, resnet.interpolation) == (RESNET50_TV, 0.875, "bilinear")
    assert resnet.version == TIMM and "resnet50.tv_in1k" in resnet.read_from
    assert set(resnet.fields()) - {"weights.format"} <= set(CHECKED_FIELDS)


def test_timm_at_another_version_from_a_local_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    timm_065_index: dict[str, str]) -> None:
    cache = tmp_path / "libraries"
    with pytest.raises(LibraryConfigError, match="--offline forbids downloading"):
        read("timm", "inception_v3", version="0.6.5", cache=cache, offline=True)
    for name, value in timm_065_index.items():
        monkeypatch.setenv(name, value)
    configs = read("timm", "inception_v3", "ghostnet_100", "mobilenetv3_large_100_miil", version="0.6.5",
                   cache=cache)
    with pytest.raises(LibraryConfigError, match="cannot download timm 0.0.1"):
        read("timm", "resnet18", version="0.0.1", cache=cache)
    assert {c.version for c in configs.values()} == {"0.6.5"}
    assert configs["ghostnet_100"].interpolation == "bilinear"
    assert configs["mobilenetv3_large_100_miil"].mean == (0.0, 0.0, 0.0)
    assert configs["mobilenetv3_large_100_miil"].std == (1.0, 1.0, 1.0)
    assert configs["inception_v3"].crop_pct == 0.875
    assert (cache / "timm-0.6.5" / "timm" / "__init__.py").is_file()
    # the unpacked wheel is reused without the index, and nothing was installed into the environment
    again = read("timm", "ghostnet_100", version="0.6.5", cache=cache, offline=True)
    assert again["ghostnet_100"].interpolation == "bilinear"
    assert installed_version("timm") == TIMM


def test_torchvision_weights_meta_and_transforms(tmp_path: Path) -> None:
    import torchvision

    configs = read("torchvision", "resnet18", "resnet1*", cache=tmp_path)
    assert sorted(configs) == ["resnet101", "resnet152", "resnet18"]
    c = configs["resnet18"]
    assert (c.input_size, c.resize, c.interpolation, c.crop_mode) == ((3, 224, 224), 256, "bilinear", "center")
    assert (c.mean, c.std, c.value_range, c.color) == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "0..1", "RGB")
    assert c.weights_url == "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    assert (c.top1, c.top5, c.num_classes) == (69.758, 89.078, 1000)
    assert c.params_m == pytest.approx(11.689512)
    assert c.read_from == f"torchvision {torchvision.__version__} (ResNet18_Weights.IMAGENET1K_V1)"


def test_mmpretrain_metafile_and_test_pipeline(tmp_path: Path) -> None:
    configs = read("mmcls", "cspresnet50_3rdparty_8xb32_in1k", cache=tmp_path)
    c = configs["cspresnet50_3rdparty_8xb32_in1k"]
    assert (c.input_size, c.resize, c.interpolation, c.resize_backend) == ((3, 256, 256), 288, "bicubic", "pil")
    assert (c.mean, c.value_range, c.color) == ((123.675, 116.28, 103.53), "0..255", "RGB")
    assert (c.top1, c.top5, c.flops_g, c.params_m) == (79.55, 94.68, 3.48, 21.62)
    assert c.weights_url is not None and hash_prefix(c.weights_url) == "dd6dddfb"
    assert "configs/cspnet/cspresnet50_8xb32_in1k.py" in c.read_from


def test_paddleclas_model_urls_with_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "ConvNeXt_tiny.yaml"
    config.write_text(paddleclas_config(interpolation="bicubic", backend="pil", to_rgb=False), encoding="utf-8")
    configs = read("ppcls", "ConvNeXt_tiny", "AlexNet", "ResNet50", "NoSuchNet", cache=tmp_path,
                   eval_configs={"ConvNeXt_tiny": str(config), "AlexNet": "standard", "NoSuchNet": "standard"})
    tiny = configs["ConvNeXt_tiny"]
    assert (tiny.input_size, tiny.resize, tiny.interpolation, tiny.resize_backend) == ((3, 224, 224), 256, "bicubic",
                                                                                         "pil")
    assert (tiny.color, tiny.value_range, tiny.num_classes) == ("BGR", "0..1", 1000)
    assert tiny.weights_url == "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/ConvNeXt_tiny_pretrained.pdparams"
    assert same_release(tiny.version, installed_version("paddleclas") or "")
    alexnet = configs["AlexNet"]
    assert (alexnet.resize, alexnet.interpolation, alexnet.resize_backend) == (256, "bilinear", "cv2")
    assert "the standard eval transform" in alexnet.read_from
    assert configs["ResNet50"].input_size is None  # no config given: weights only, and said so
    assert "no eval config given" in configs["ResNet50"].notes[0]
    assert "no MODEL_URLS entry" in configs["NoSuchNet"].notes[0] and configs["NoSuchNet"].weights_url is None


def test_paddleclas_config_by_url_is_fetched_once(tmp_path: Path, fault_server) -> None:  # type: ignore[no-untyped-def]
    url = fault_server.add("/ppcls/configs/ImageNet/ResNet/ResNet50.yaml", paddleclas_config(288, 256).encode())
    first = read("ppcls", "ResNet50", cache=tmp_path, eval_configs={"ResNet50": url})["ResNet50"]
    again = read("ppcls", "ResNet50", cache=tmp_path, offline=True, eval_configs={"ResNet50": url})["ResNet50"]
    assert first == again and (first.input_size, first.resize) == ((3, 256, 256), 288)
    assert [r.path for r in fault_server.requests()] == ["/ppcls/configs/ImageNet/ResNet/ResNet50.yaml"]
    with pytest.raises(LibraryConfigError, match="DataLoader.Eval.dataset.transform_ops"):
        broken = tmp_path / "broken.yaml"
        broken.write_text("Arch: {class_num: 10}\n", encoding="utf-8")
        read("ppcls", "ResNet50", cache=tmp_path, eval_configs={"ResNet50": str(broken)})


def test_a_library_without_a_reader_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigsUnsupported, match="library `onnx` does not read its own configs"):
        read("onnx", "anything", cache=tmp_path)
