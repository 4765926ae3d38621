"""Time to score the device's results (`zoo eval --results`) at ImageNet-validation scale.

Writes, in a temporary folder, a VSX result file for N images (five lines each) and a vamp output
folder of M `.npz` files of 1000 float32 logits plus their datalist, then times
`zoo.measure.device.read_results` on each (reading, pairing, labelling, top-5).

Run: .venv/bin/python benchmarks/device_results_bench.py [--vsx 50000] [--vamp 10000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zoo.measure.datasets import wnids  # noqa: E402
from zoo.measure.device import read_results  # noqa: E402


def write_vsx(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for index in range(count):
            image = f"/data/val/{wnids()[index % 1000]}/ILSVRC2012_val_{index + 1:08d}.JPEG"
            handle.writelines(f"{image}: Relay top-{k} id: {(index + k) % 1000}, prob: 0.1, class name: x\n"
                              for k in range(5))


def write_vamp(root: Path, count: int) -> tuple[Path, Path]:
    outputs = root / "outputs"
    outputs.mkdir()
    rng = np.random.default_rng(0)
    datalist = root / "npz_datalist.txt"
    datalist.write_text("".join(f"{root}/inputs/{wnids()[i % 1000]}/{i}.npz\n" for i in range(count)), encoding="utf-8")
    for index in range(count):
        np.savez(outputs / f"output_{index}.npz", output_0=rng.standard_normal((1, 1000), dtype=np.float32))
    return outputs, datalist


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vsx", type=int, default=50_000, help="images in the VSX result file")
    parser.add_argument("--vamp", type=int, default=10_000, help="vamp output files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_vsx(root / "result.txt", args.vsx)
        started = time.perf_counter()
        score = read_results(root / "result.txt", datalist=None, labels=None, num_classes=1000).score()
        seconds = time.perf_counter() - started
        print(f"VSX text, {score.images} images: {seconds:.2f} s ({score.images / seconds:,.0f} images/s)")
        outputs, datalist = write_vamp(root, args.vamp)
        started = time.perf_counter()
        score = read_results(outputs, datalist=datalist, labels=None, num_classes=1000).score()
        seconds = time.perf_counter() - started
        print(f"vamp outputs, {score.images} files: {seconds:.2f} s ({score.images / seconds:,.0f} images/s)")


if __name__ == "__main__":
    main()
