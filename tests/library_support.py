"""A local package index for reading a library at another version, and PaddleClas-format configs.

`make setup` downloads the timm 0.6.5 wheel once into `.venv/test-wheels/`; tests serve that
folder over a real HTTP server on 127.0.0.1 and point pip at it (find-links only, no index, no
pip config), so reading timm 0.6.5 never touches the network at test time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_WHEELS = ROOT / ".venv" / "test-wheels"
TIMM_065 = TEST_WHEELS / "timm-0.6.5-py3-none-any.whl"


def needs_timm_065() -> None:
    """Skip the test, saying why, when `make setup` has not fetched the wheel yet."""
    if not TIMM_065.is_file():
        pytest.skip(f"{TIMM_065.relative_to(ROOT)} is missing; `make setup` downloads it once")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class names it so
        pass


@contextmanager
def package_index(folder: Path = TEST_WHEELS) -> Iterator[dict[str, str]]:
    """Serve `folder` (its listing is a find-links page); yield the environment that makes pip use only it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": f"http://127.0.0.1:{server.server_address[1]}/",
               "PIP_CONFIG_FILE": os.devnull}
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def paddleclas_config(resize_short: int = 256, crop: int = 224, *, interpolation: str | None = None,
                      backend: str | None = None, to_rgb: bool = True,
                      mean: tuple[float, float, float] = (0.485, 0.456, 0.406)) -> str:
    """An eval config in PaddleClas's YAML format (`ppcls/configs/ImageNet/<Family>/<Model>.yaml`)."""
    resize = f"            resize_short: {resize_short}\n"
    resize += f"            interpolation: {interpolation}\n" if interpolation else ""
    resize += f"            backend: {backend}\n" if backend else ""
    return f"""\
Global:
  image_shape: [3, {crop}, {crop}]
Arch:
  name: ResNet50
  class_num: 1000
DataLoader:
  Eval:
    dataset:
      name: ImageNetDataset
      image_root: ./dataset/ILSVRC2012/
      transform_ops:
        - DecodeImage:
            to_rgb: {to_rgb}
            channel_first: False
        - ResizeImage:
{resize}        - CropImage:
            size: {crop}
        - NormalizeImage:
            scale: 1.0/255.0
            mean: [{', '.join(map(str, mean))}]
            std: [0.229, 0.224, 0.225]
            order: ''
        - ToCHWImage:
"""
