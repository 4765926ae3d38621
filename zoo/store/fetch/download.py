"""Fetch weights over HTTP(S) or from local files: verified, resumable, never half-published.

Why it works the way it does:
- bytes are hashed while they stream, so a 300 MB file is read once;
- an interrupted download leaves `<dest>.part` plus a sidecar `<dest>.part.json` remembering
  the server's validator (ETag or Last-Modified); the next attempt, in this process or in the
  next run, asks only for the rest (`Range` + `If-Range`) and starts over if the file changed;
- nothing reaches `dest` before its size, sha256 and hash prefix are checked; bytes that fail
  are moved to `.quarantine/` beside it for a person to look at;
- a file lock (`.<dest name>.lock` beside it) makes concurrent fetches of one file download it once;
- URLs are only ever shown through `redact`, so passwords and tokens never reach a log.

Heavy-ish imports (requests, urllib3) happen inside functions: `import zoo.store.fetch.download`
stays cheap for the light commands that only need `redact`.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import os
import queue
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Self

from zoo import __version__
from zoo.errors import FetchError, IntegrityError
from zoo.redaction import redact, redact_text
from zoo.store.fetch import freshness
from zoo.store.fetch.limits import Clock, Limits, too_large
from zoo.store.fetch.places import candidates, file_name, local_path
from zoo.urls import url_problem

if TYPE_CHECKING:
    import requests

#: Read/write/hash granularity: large enough that per-chunk Python overhead is negligible.
CHUNK = 1 << 20
#: Seconds before the first retry; doubles with each failure in a row (with jitter).
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
#: A server asking to wait longer than this is waited on this long, then asked again.
RETRY_AFTER_CAP = 120.0
#: Folder (beside the destination) receiving bytes that failed their checks.
QUARANTINE = ".quarantine"

_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_HONOURS_RETRY_AFTER = frozenset({429, 503})


# -- result and checks -------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchResult:
    """What `fetch` put at `path`, and how it got there."""

    path: Path
    sha256: str
    size: int
    source_url: str  # where the bytes came from, credentials masked
    resumed_bytes: int = 0  # bytes kept from an earlier, interrupted attempt (this run or a past one)
    attempts: int = 1  # requests or copies made; 0 when `dest` already held the pinned file
    warnings: tuple[str, ...] = ()  # e.g. a mirror that served wrong bytes before another source worked


@dataclass(frozen=True)
class _Pins:
    sha256: str | None
    size: int | None
    hash_prefix: str | None

    def mismatches(self, digest: str, size: int) -> list[str]:
        found = []
        if self.size is not None and size != self.size:
            found.append(f"size is {size} bytes, expected {self.size}")
        if self.sha256 is not None and digest != self.sha256:
            found.append(f"sha256 is {digest}, expected {self.sha256}")
        if self.hash_prefix is not None and not digest.startswith(self.hash_prefix):
            found.append(f"sha256 {digest} does not start with the hash prefix {self.hash_prefix} of the file name")
        return found


# -- the entry point ---------------------------------------------------------------------------


def fetch(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    hash_prefix: str | None = None,
    mirrors: Sequence[str] = (),
    offline: bool = False,
    require_pinned: bool = False,
    timeout: tuple[float, float] = (10, 60),
    retries: int | None = None,
    progress: FetchProgress | None = None,
    limits: Limits | None = None,
) -> FetchResult:
    """Put the file at `url` (http(s)://, file:// or a path) at `dest`, checked against the pins.

    `mirrors` are folders or URL prefixes where the file name is looked for before `url` (an
    entry that already ends with the file name is used as it is). `offline` allows local
    places only. `require_pinned` refuses anything without `sha256`. `retries` counts failed
    attempts in a row that kept no new bytes (default: `limits.retries`). `progress` hears about the transfer (bytes, retries,
    waits and a summary line); the caller decides what to show, and None shows nothing. `limits`
    bound each place's bytes and time (default: from the environment, `limits.Limits.from_env`).

    A `dest` that already holds the pinned file is kept (`attempts == 0`); so is an unpinned one
    whose source still has the stamp it had when `dest` was fetched (`freshness`); any other
    unpinned one is fetched again, unless another process published it while this one waited.
    """
    url, dest = os.fspath(url), Path(dest)
    if require_pinned and not sha256:
        raise FetchError(
            f"{redact(url)} has no sha256 pin and pinned weights are required (--require-pinned): "
            "refusing to fetch it. Pin it with `zoo lock ID`, or drop --require-pinned."
        )
    _check_places((url, *map(os.fspath, mirrors)))
    pins = _Pins(sha256, size, hash_prefix)
    limits = limits or Limits.from_env()
    if size is not None and size > limits.max_bytes:
        raise too_large(redact(url), size, limits, announced=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    reporter = progress or _Silent()

    seen_before = _signature(dest)
    with _locked(dest, reporter):
        source = None if pins.sha256 else freshness.source_stamp(url, mirrors, offline)
        if freshness.unchanged(dest, source):  # unpinned, and its source still serves this file
            return FetchResult(dest, *_hash_path(dest), redact(url), attempts=0)
        present = _already_there(dest, pins, seen_before, url)
        if present is not None:
            return present
        patience = (timeout, limits.retries if retries is None else retries, limits)
        result = _fetch_from_sources(url, dest, pins, mirrors, offline, patience, reporter)
        freshness.remember(dest, source)
        return result


def _check_places(places: Sequence[str]) -> None:
    """Refuse a URL that cannot be parsed (`http://[::1/x`) before anything is looked up."""
    for place in places:
        problem = url_problem(place) if "://" in place else None
        if problem:
            raise FetchError(f"{redact_text(place)}: this URL {problem}; fix it (or the --weights-from value).")


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def _already_there(dest: Path, pins: _Pins, seen_before: tuple[int, int, int] | None, url: str) -> FetchResult | None:
    """The result for a `dest` that needs no fetch, else None."""
    if not dest.is_file():
        return None
    if pins.sha256 is None and _signature(dest) == seen_before:
        return None  # an unpinned file from some earlier run: nothing vouches for it
    digest, nbytes = _hash_path(dest)
    if pins.mismatches(digest, nbytes):
        return None
    return FetchResult(dest, digest, nbytes, redact(url), attempts=0)


def _locked(dest: Path, reporter: FetchProgress) -> contextlib.AbstractContextManager[None]:
    """Hold `.<dest name>.lock`, so that concurrent fetches of one file download it once."""
    from zoo.store.locks import hold

    return hold(dest.with_name(f".{dest.name}.lock"),  # hidden: it stays after release, by design
                on_wait=lambda: reporter.note(f"waiting for another process fetching {dest.name}"))


def _fetch_from_sources(
    url: str,
    dest: Path,
    pins: _Pins,
    mirrors: Sequence[str],
    offline: bool,
    patience: tuple[tuple[float, float], int, Limits],
    reporter: FetchProgress,
) -> FetchResult:
    """Try each mirror, then `url`; publish the first bytes that pass the checks.

    `patience` is (timeout, retries, limits) for each place."""
    timeout, retries, limits = patience
    started = time.monotonic()
    name = file_name(url)
    partial = _Partial.beside(dest)
    lines: list[str] = []  # what happened at each place, for the final error
    errors: list[FetchError] = []
    for place in candidates(url, mirrors, name):
        local = local_path(place)
        label = redact(place)
        if local is None and offline:
            lines.append(f"{label}: not tried (--offline)")
            continue
        if local is not None and not local.is_file():
            lines.append(f"{label}: no such file")
            continue
        try:
            if local is not None:
                digest, nbytes = _copy_local(local, partial, reporter, limits)
                resumed, attempts = 0, 1
            else:
                download = _HttpDownload(place, partial, pins, timeout, reporter, limits)
                digest, nbytes, resumed, attempts = download.run(retries)
            _publish(partial, dest, digest, nbytes, pins, label)
        except FetchError as exc:
            lines.append(str(exc))
            errors.append(exc)
            continue
        warnings = tuple(str(e) for e in errors if isinstance(e, IntegrityError))
        result = FetchResult(dest, digest, nbytes, label, resumed, attempts, warnings)
        reporter.note(_summary(dest.name, result, time.monotonic() - started))
        return result
    if len(lines) == 1 and errors:
        raise errors[0]
    kind = IntegrityError if any(isinstance(e, IntegrityError) for e in errors) else FetchError
    places = "".join(f"\n  - {line}" for line in lines)
    if offline:
        raise kind(f"cannot fetch {name} with --offline; places looked at:{places}\n"
                   "Put the file in a folder and pass --weights-from DIR, or drop --offline.")
    raise kind(f"cannot fetch {name} from any source:{places}\n"
               "Check the URL, or pass --weights-from DIR|URL with a copy of the file.")


def _publish(partial: _Partial, dest: Path, digest: str, nbytes: int, pins: _Pins, label: str) -> None:
    """Check the finished `.part` and move it onto `dest`, or into quarantine."""
    problems = pins.mismatches(digest, nbytes)
    if problems:
        kept = _quarantine(partial.part, dest, digest)
        partial.discard()
        raise IntegrityError(
            f"{label}: {'; '.join(problems)}. Nothing was published; the bytes are kept in {kept}. "
            "If the file changed upstream on purpose, re-pin it with `zoo lock --force ID`; "
            "otherwise try another source (--weights-from DIR|URL)."
        )
    os.replace(partial.part, dest)
    partial.discard()


def _quarantine(part: Path, dest: Path, digest: str) -> Path:
    folder = dest.parent / QUARANTINE
    folder.mkdir(exist_ok=True)
    target = folder / f"{dest.name}.{digest[:16]}"
    os.replace(part, target)
    return target


# -- places: mirrors, file:// URLs and plain paths ---------------------------------------------


def _copy_local(source: Path, partial: _Partial, reporter: FetchProgress, limits: Limits) -> tuple[str, int]:
    """Copy `source` into the `.part` file, hashing as it goes (a device file is endless: bounded too)."""
    partial.discard()
    hasher = hashlib.sha256()
    nbytes = 0
    try:
        reporter.start(source.stat().st_size, 0)
        with open(source, "rb") as src, open(partial.part, "wb") as out:
            while chunk := src.read(CHUNK):
                out.write(chunk)
                hasher.update(chunk)
                nbytes += len(chunk)
                reporter.advance(len(chunk))
                if nbytes > limits.max_bytes:
                    break
    except OSError as exc:
        raise FetchError(
            f"cannot copy {source} to {partial.part}: {exc.strerror or exc}. Check permissions and free space."
        ) from None
    if nbytes > limits.max_bytes:
        partial.discard()
        raise too_large(str(source), limits.max_bytes, limits, announced=False)
    return hasher.hexdigest(), nbytes


def _chunks(path: Path, limit: int | None = None) -> Iterator[bytes]:
    """The first `limit` bytes of a file (all if None), CHUNK at a time."""
    if limit == 0:
        return
    with open(path, "rb") as handle:
        remaining = limit
        while chunk := handle.read(CHUNK if remaining is None else min(CHUNK, remaining)):
            yield chunk
            if remaining is not None:
                remaining -= len(chunk)
                if not remaining:
                    return


def _hash_path(path: Path) -> tuple[str, int]:
    """(sha256, size) of a file."""
    hasher = hashlib.sha256()
    nbytes = 0
    for chunk in _chunks(path):
        hasher.update(chunk)
        nbytes += len(chunk)
    return hasher.hexdigest(), nbytes


# -- HTTP with resume and retries --------------------------------------------------------------


@dataclass(frozen=True)
class _Partial:
    """An unfinished download `<dest>.part` and what we know about it, in `<dest>.part.json`."""

    part: Path
    sidecar: Path

    @classmethod
    def beside(cls, dest: Path) -> _Partial:
        return cls(dest.with_name(dest.name + ".part"), dest.with_name(dest.name + ".part.json"))

    def resumable(self, label: str, sha256: str | None) -> tuple[int, str | None]:
        """(bytes on disk worth resuming, validator for If-Range); (0, None) means start over.

        A partial download is resumed only if it came from the same URL and pin, and if we can
        tell a changed file: by the validator, or else by the sha256 checked at the end.
        """
        try:
            have = self.part.stat().st_size
            meta = json.loads(self.sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return 0, None
        if not isinstance(meta, dict) or meta.get("url") != label or meta.get("sha256") != sha256:
            return 0, None
        if meta.get("encoding") != "identity":  # decoded bytes on disk do not line up with the server's ranges
            return 0, None
        validator = meta.get("validator")
        if not validator and not sha256:
            return 0, None
        return have, validator

    def start(self, label: str, sha256: str | None, validator: str | None, encoding: str) -> None:
        """Begin afresh: old bytes go first, then the sidecar, so no crash can pair them wrongly.

        Only an `identity`-encoded body is ever resumed: a server that gzips it anyway has its
        bytes decoded on the way to disk, and their offsets are not the server's.
        """
        self.part.unlink(missing_ok=True)
        tmp = self.sidecar.with_name(self.sidecar.name + ".tmp")
        meta = {"url": label, "sha256": sha256, "validator": validator, "encoding": encoding}
        tmp.write_text(json.dumps(meta), encoding="utf-8")
        os.replace(tmp, self.sidecar)

    def discard(self) -> None:
        self.part.unlink(missing_ok=True)
        self.sidecar.unlink(missing_ok=True)


class _Retry(Exception):
    """A failure worth another attempt (after `wait` seconds if the server said so)."""

    def __init__(self, reason: str, *, wait: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


class _HttpDownload:
    """One URL fetched into a `.part` file, resumed and retried until complete or hopeless."""

    def __init__(self, url: str, partial: _Partial, pins: _Pins, timeout: tuple[float, float],
                 reporter: FetchProgress, limits: Limits):
        self.url = url
        self.label = redact(url)
        self.partial = partial
        self.pins = pins
        self.timeout = timeout
        self.reporter = reporter
        self.limits = limits
        self.ceiling = min(pins.size, limits.max_bytes) if pins.size is not None else limits.max_bytes
        self.clock = Clock(self.label, limits)
        self.seen: set[str] = set()  # what the server did that defeats resuming, for the final message

    def run(self, retries: int) -> tuple[str, int, int, int]:
        """(sha256, size, resumed bytes, attempts) of the complete `.part` file.

        An attempt counts as progress only if it leaves more bytes that the next attempt will
        really resume from than any attempt before it: bytes a server makes us discard (it ignores
        Range, sends the wrong range, gives no validator) are no progress, so such a server runs
        out of retries instead of being asked forever.
        """
        import requests

        attempts = kept = barren = 0
        with requests.Session() as session:
            session.headers["User-Agent"] = f"zoo/{__version__}"
            while True:
                attempts += 1
                self.clock.check(f"{attempts - 1} attempt(s) made")
                try:
                    digest, nbytes, resumed = self._attempt(session)
                    return digest, nbytes, resumed, attempts
                except _Retry as retry:
                    now_kept = self.partial.resumable(self.label, self.pins.sha256)[0]
                    barren = 0 if now_kept > kept else barren + 1  # attempts in a row that added nothing
                    kept = max(kept, now_kept)
                    if barren > retries:
                        raise self._gave_up(retry.reason, attempts, barren) from None
                    self._wait(retry, barren + 1)

    def _wait(self, retry: _Retry, failures: int) -> None:
        """Sleep before the next attempt, never past the deadline."""
        wait = retry.wait if retry.wait is not None else _backoff(failures)
        wait = max(0.0, min(wait, self.clock.left()))
        if wait > 0:
            self.reporter.note(f"{self.label}: {retry.reason}; retrying in {wait:.1f} s")
        time.sleep(wait)
        self.clock.check(retry.reason)

    def _gave_up(self, reason: str, attempts: int, barren: int) -> FetchError:
        did = f" The server {'; '.join(sorted(self.seen))}." if self.seen else ""
        return FetchError(
            f"cannot fetch {self.label}: {reason}; gave up after {attempts} attempt(s), the last {barren} "
            f"adding no bytes that could be kept.{did} Try again later (the next run resumes what was kept), "
            "or use --weights-from DIR|URL."
        )

    def _attempt(self, session: requests.Session) -> tuple[str, int, int]:
        """One request: (sha256, size, resumed bytes) of the completed `.part`, or `_Retry`."""
        offset, validator = self.partial.resumable(self.label, self.pins.sha256)
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if validator:
                headers["If-Range"] = validator
        response = self._get(session, headers, (self.timeout[0], max(0.05, min(self.timeout[1], self.clock.left()))))
        with response:
            status = response.status_code
            if status == 416 and offset:
                return self._nothing_left(response, offset)
            if status in _RETRY_STATUS:
                wait = _retry_after(response) if status in _HONOURS_RETRY_AFTER else None
                raise _Retry(f"HTTP {status} {response.reason}", wait=wait)
            if status == 206 and offset:
                start, total = _content_range(response.headers.get("Content-Range", ""))
                if start != offset:
                    self.partial.discard()
                    self.seen.add(f"sent a different range than asked (bytes from {start}, not {offset})")
                    raise _Retry(f"server sent bytes from {start}, not {offset}; starting over")
                if _encoding(response) != "identity":
                    self.partial.discard()
                    self.seen.add("encoded a partial answer (Content-Encoding), which cannot be appended")
                    raise _Retry("server encoded a partial answer; starting over")
            elif status == 200:  # a fresh answer: the server ignored Range, or the file changed
                if offset:
                    self.seen.add("answered a Range request with the whole file (no resume)")
                offset, total = 0, _content_length(response)
                validator = _validator(response)
                if validator is None and self.pins.sha256 is None:
                    self.seen.add("gave no ETag or Last-Modified, so an interrupted download cannot resume "
                                  "(a sha256 pin from `zoo lock` allows it)")
                self.partial.start(self.label, self.pins.sha256, validator, _encoding(response))
            else:
                raise self._refused(response)
            self._check_announced(total)
            with _HashingThread() as hasher:
                for chunk in _chunks(self.partial.part, offset):  # the bytes kept from before
                    hasher.update(chunk)
                received = self._stream(response, hasher, offset, total)
                return hasher.hexdigest(), offset + received, offset

    def _get(self, session: requests.Session, headers: dict[str, str],
             timeout: tuple[float, float]) -> requests.Response:
        """GET with the read timeout cut to what is left of the deadline."""
        import requests

        try:
            return session.get(self.url, headers=headers, stream=True, timeout=timeout)
        except requests.TooManyRedirects:
            raise FetchError(
                f"cannot fetch {self.label}: too many redirects (a redirect loop?). "
                "Check the URL, or use --weights-from DIR|URL."
            ) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Retry(_network_reason(exc)) from None
        except requests.RequestException as exc:
            raise FetchError(f"cannot fetch {self.label}: {redact_text(str(exc))}") from None

    def _stream(self, response: requests.Response, hasher: _HashingThread, offset: int, total: int | None) -> int:
        """Append the body to the `.part` file; return the bytes received.

        `read1` hands over whatever has arrived (up to CHUNK), so that bytes received before a
        dropped connection or a stall are on disk for the next attempt to resume from.
        """
        import requests
        import urllib3

        self.reporter.start(total, offset)
        received = 0
        too_long = False
        try:
            with open(self.partial.part, "ab", buffering=0) as out:
                while chunk := response.raw.read1(CHUNK, decode_content=True):
                    out.write(chunk)
                    hasher.update(chunk)
                    received += len(chunk)
                    self.reporter.advance(len(chunk))
                    if offset + received > self.ceiling:
                        too_long = True
                        break
                    self.clock.check(f"{_human(offset + received)} received")
        except (requests.RequestException, urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
            self.clock.check(f"{_network_reason(exc)} after {_human(offset + received)}")
            raise _Retry(f"{_network_reason(exc)} after {_human(offset + received)}") from None
        except OSError as exc:
            raise FetchError(
                f"cannot write {self.partial.part}: {exc.strerror or exc}. Check free space and permissions."
            ) from None
        if too_long and self.pins.size is None:
            self.partial.discard()
            raise too_large(self.label, self.ceiling, self.limits, announced=False)
        if total is not None and offset + received < total and not too_long:  # too long: the size check quarantines
            raise _Retry(f"connection closed after {_human(offset + received)} of {_human(total)}")
        return received

    def _nothing_left(self, response: requests.Response, offset: int) -> tuple[str, int, int]:
        """416 to `Range: bytes=N-`: complete if the file has N bytes, else start over."""
        _, total = _content_range(response.headers.get("Content-Range", ""))
        if total == offset:
            return _hash_path(self.partial.part)[0], offset, offset
        self.partial.discard()
        raise _Retry("the partial download is longer than the file; starting over", wait=0)

    def _check_announced(self, total: int | None) -> None:
        if total is not None and self.pins.size is None and total > self.ceiling:
            self.partial.discard()
            raise too_large(self.label, total, self.limits, announced=True)
        if total is not None and self.pins.size is not None and total != self.pins.size:
            self.partial.discard()
            raise IntegrityError(
                f"{self.label}: the server announces {total} bytes, but {self.pins.size} are pinned; "
                "nothing was downloaded. If the file changed upstream on purpose, re-pin it with "
                "`zoo lock --force ID`; otherwise try another source (--weights-from DIR|URL)."
            )

    def _refused(self, response: requests.Response) -> FetchError:
        status = response.status_code
        if status in (404, 410):
            what, todo = "not found", "Check the URL in the manifest, or provide the file with --weights-from DIR."
        elif status in (401, 403):
            what = "access denied"
            todo = "The URL may need credentials or have expired; download it yourself and use --weights-from DIR."
        else:
            what, todo = "unexpected answer", "Try again later, or use --weights-from DIR|URL."
        where = self.label
        if response.url and redact(response.url) != self.label:
            where += f" (redirected to {redact(response.url)})"
        return FetchError(f"cannot fetch {where}: {what} (HTTP {status} {response.reason}). {todo}")


def _backoff(failures: int) -> float:
    """Exponential backoff with jitter, so that many clients do not retry in lockstep."""
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (failures - 1)) * random.uniform(0.5, 1.0)


def _retry_after(response: requests.Response) -> float | None:
    """Seconds the server asks us to wait (delta-seconds or an HTTP date), capped."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


_CONTENT_RANGE = re.compile(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*")


def _content_range(value: str) -> tuple[int | None, int | None]:
    """(first byte, full length) from `bytes 100-199/200` or `bytes */200`."""
    match = _CONTENT_RANGE.fullmatch(value)
    if not match:
        return None, None
    start = int(match[1]) if match[1] is not None else None
    total = int(match[2]) if match[2] != "*" else None
    return start, total


def _encoding(response: requests.Response) -> str:
    """The body's Content-Encoding (`identity` when none is named)."""
    return response.headers.get("Content-Encoding", "identity").strip().lower() or "identity"


def _content_length(response: requests.Response) -> int | None:
    """Body length of a 200 answer, if the bytes we get are the bytes counted."""
    if _encoding(response) != "identity":
        return None  # requests decodes it: the length counts the encoded bytes
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def _validator(response: requests.Response) -> str | None:
    """What If-Range may quote: a strong ETag, else Last-Modified."""
    etag = response.headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified")


class _HashingThread:
    """sha256 computed on a helper thread, overlapping the network and the disk.

    hashlib releases the GIL on large buffers, so hashing no longer adds its time to the
    download's; the bounded queue keeps at most a few chunks in memory.
    """

    def __init__(self) -> None:
        self._hasher = hashlib.sha256()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._thread = threading.Thread(target=self._work, name="zoo-sha256", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish()

    def _work(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self._hasher.update(chunk)

    def _finish(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def update(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def hexdigest(self) -> str:
        self._finish()
        return self._hasher.hexdigest()


def _network_reason(exc: BaseException) -> str:
    """A short, credential-free reason for a network failure, told by the exception's type.

    requests wraps urllib3, which wraps the socket error, so the whole chain is looked at,
    and the most telling cause wins (a refused connection is also a `NewConnectionError`).
    """
    causes = _causes(exc)
    for reason, matches in _reasons():
        if any(matches(cause) for cause in causes):
            return reason
    return redact_text(str(exc))[:200] or type(exc).__name__


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and everything it wraps: causes, contexts, urllib3's `reason` and exception args."""
    found: list[BaseException] = []
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if any(current is seen for seen in found):
            continue
        found.append(current)
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        pending += [e for e in linked if isinstance(e, BaseException)]
    return found


def _reasons() -> list[tuple[str, Callable[[BaseException], bool]]]:
    """(reason, test) pairs, most specific first."""
    import http.client
    import socket
    import ssl

    import requests
    import urllib3.exceptions as u3

    def kind(*types: type[BaseException]) -> Callable[[BaseException], bool]:
        return lambda exc: isinstance(exc, types)

    return [
        ("host name not found", kind(socket.gaierror, u3.NameResolutionError)),
        ("connection refused", kind(ConnectionRefusedError)),
        ("connection reset", kind(ConnectionResetError, ConnectionAbortedError, http.client.RemoteDisconnected)),
        ("connection broken mid-transfer",
         kind(http.client.IncompleteRead, u3.ProtocolError, requests.exceptions.ChunkedEncodingError)),
        ("TLS handshake failed", kind(ssl.SSLError, requests.exceptions.SSLError)),
        ("connection timed out", lambda exc: isinstance(exc, requests.ConnectTimeout | u3.ConnectTimeoutError)
         and not isinstance(exc, u3.NewConnectionError)),
        ("read timed out", kind(requests.ReadTimeout, u3.ReadTimeoutError, TimeoutError)),
    ]


def _human(nbytes: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if nbytes < 1000 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    raise AssertionError("unreachable")


# -- progress ----------------------------------------------------------------------------------


class FetchProgress(Protocol):
    """Hears about one file's transfer; what people see of it is the caller's choice."""

    def start(self, total: int | None, completed: int = 0) -> None:
        """A transfer of `total` bytes (None: unknown) begins, `completed` of them already here."""
        ...

    def advance(self, amount: int) -> None: ...

    def note(self, message: str) -> None:
        """A line for people: a retry, a wait for another process, the summary of the fetch."""
        ...


class _Silent:
    """Tells nobody anything (the default)."""

    def start(self, total: int | None, completed: int = 0) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass

    def note(self, message: str) -> None:
        pass


def _summary(name: str, result: FetchResult, seconds: float) -> str:
    """One line saying what was fetched, how fast and from where."""
    fetched = result.size - result.resumed_bytes
    rate = f", {_human(fetched / seconds)}/s" if seconds > 0 and fetched else ""
    resumed = f", resumed at {_human(result.resumed_bytes)}" if result.resumed_bytes else ""
    return (f"fetched {name} ({_human(result.size)} in {seconds:.1f} s{rate}{resumed}) "
            f"from {result.source_url}; sha256 {result.sha256}")
