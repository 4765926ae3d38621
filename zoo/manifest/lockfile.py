"""Weight pins recorded by `zoo lock`, kept in a lock file beside each manifest.

`zoo/manifests/cspnet.yaml` gets `zoo/manifests/cspnet.lock.yaml`:

    timm/cspresnet50:
      url: https://github.com/.../cspresnet50_ra-d3e8d487.pth
      sha256: d3e8d487...
      size: 86720000

Why a separate file rather than rewriting the manifest: the manifest stays exactly as a
person wrote it (comments, layout, number formatting), `zoo lock` never rewrites YAML it
does not own, and a re-pin is a small, reviewable diff. The catalog merges the pins in at
load time (`apply_locks`). An entry is used only while its `url` still equals the
manifest's, compared as written: masked by `zoo.redaction` (a lock file is committed, so it never
holds a password or token, and a rotated token does not unpin the file). A changed URL makes the entry stale, which is reported (so `zoo lint` fails)
and ignored until `zoo lock` pins the new file. A sha256 written in the manifest itself
always wins over the lock file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from zoo.atomic import atomic_writer
from zoo.errors import ManifestError, Problem
from zoo.manifest.located import load_located
from zoo.manifest.schema import Model, Weights
from zoo.names import is_sha256
from zoo.redaction import redact

#: Lock files end with this, which the catalog skips when looking for manifests.
LOCK_SUFFIX = ".lock.yaml"
_HEADER = """\
# Weight pins written by `zoo lock`, merged into {manifest} when it is loaded.
# An entry counts only while its url equals the manifest's; re-run `zoo lock ID` after
# changing a weights URL. Review changes to this file like code.
"""


@dataclass(frozen=True)
class Pin:
    """The verified identity of one model's weights file."""

    url: str
    sha256: str
    size: int


def lock_path(manifest: Path) -> Path:
    """The lock file that belongs to a manifest file."""
    return manifest.with_name(manifest.stem + LOCK_SUFFIX)


def is_lock_file(path: Path) -> bool:
    return path.name.endswith(LOCK_SUFFIX)


def manifest_of(lock_file: Path) -> Path:
    """The manifest a lock file pins (`cspnet.lock.yaml` -> `cspnet.yaml`)."""
    return lock_file.with_name(lock_file.name.removesuffix(LOCK_SUFFIX) + ".yaml")


def read_pins(lock_file: Path) -> tuple[dict[str, Pin], list[Problem], dict[str, tuple[int, int]]]:
    """(pins by model id, problems, position of each entry); a missing file has no pins."""
    if not lock_file.exists():
        return {}, [], {}
    try:
        doc = load_located(lock_file)
    except ManifestError as exc:
        return {}, exc.problems, {}
    if not isinstance(doc.data, dict):
        return {}, [Problem(lock_file, 1, 1, "", "a lock file must map model ids to pins", "re-run `zoo lock`")], {}
    pins: dict[str, Pin] = {}
    problems: list[Problem] = []
    positions: dict[str, tuple[int, int]] = {}
    for model_id, entry in doc.data.items():
        line, column = positions[str(model_id)] = doc.locate((model_id,))
        pin = _pin(entry)
        if pin is None:
            problems.append(Problem(lock_file, line, column, str(model_id),
                                    "a pin needs `url`, `sha256` (64 lowercase hex digits) and `size` (bytes)",
                                    f"re-run `zoo lock {model_id}`"))
            continue
        pins[str(model_id)] = pin
    return pins, problems, positions


def _pin(entry: object) -> Pin | None:
    if not isinstance(entry, dict) or set(entry) != {"url", "sha256", "size"}:
        return None
    url, sha256, size = entry["url"], entry["sha256"], entry["size"]
    if not isinstance(url, str) or not isinstance(sha256, str) or not is_sha256(sha256):
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        return None
    return Pin(url, sha256, size)


def write_pins(lock_file: Path, pins: dict[str, Pin], manifest_name: str) -> None:
    """Write every pin, sorted by model id, atomically (temp file beside it + rename)."""
    body = {
        model_id: {"url": redact(pin.url), "sha256": pin.sha256, "size": pin.size}
        for model_id, pin in sorted(pins.items(), key=lambda item: item[0].lower())
    }
    text = _HEADER.format(manifest=manifest_name) + yaml.safe_dump(body, sort_keys=False, width=1000)
    with atomic_writer(lock_file) as handle:
        handle.write(text)


def apply_locks(
    family_file: Path, models: list[tuple[int, Model]], problems: list[Problem]
) -> list[tuple[int, Model]]:
    """`models` of `family_file` with the pins of its lock file merged in.

    Entries that cannot be used (stale URL, unknown model, disagreeing with the manifest)
    are appended to `problems` and ignored.
    """
    lock_file = lock_path(family_file)
    pins, found, positions = read_pins(lock_file)
    problems.extend(found)
    if not pins:
        return models
    merged = []
    for index, model in models:
        pin = pins.get(model.id)
        if pin is not None:
            try:
                model = _pinned(model, pin)
            except _Unusable as exc:
                problems.append(Problem(lock_file, *positions[model.id], model.id, exc.message, exc.hint))
        merged.append((index, model))
    for model_id in pins.keys() - {model.id for _, model in models}:
        problems.append(Problem(lock_file, *positions[model_id], model_id,
                                f"`{model_id}` is not a valid model of {family_file.name}",
                                "remove the entry, or fix the model so that it loads"))
    return merged


class _Unusable(Exception):
    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.message = message
        self.hint = hint


def _pinned(model: Model, pin: Pin) -> Model:
    """`model` with `pin` applied; `_Unusable` says why the pin cannot be used."""
    weights = model.weights
    if weights is None:
        raise _Unusable("the model has no `weights` to pin", "remove the entry")
    if redact(pin.url) != redact(weights.url):
        raise _Unusable(
            f"stale pin: it is for {redact(pin.url)}, but the manifest now says {redact(weights.url)}; ignored",
            f"run `zoo lock {model.id}` to pin the new file",
        )
    if weights.sha256 is not None and weights.sha256 != pin.sha256:
        raise _Unusable(f"the manifest pins sha256 {weights.sha256}, the lock file {pin.sha256}; the manifest wins",
                        "remove one of the two")
    if weights.size is not None and weights.size != pin.size:
        raise _Unusable(f"the manifest says size {weights.size}, the lock file {pin.size}", "remove one of the two")
    try:
        pinned = Weights.model_validate({**weights.model_dump(), "sha256": pin.sha256, "size": pin.size})
    except ValidationError as exc:
        reason = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors(include_url=False))
        raise _Unusable(f"the pin does not fit the manifest: {reason}", f"re-run `zoo lock {model.id}`") from None
    return model.model_copy(update={"weights": pinned})
