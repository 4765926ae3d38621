"""A real HTTP server on 127.0.0.1 for download tests, with a switchboard of faults per path.

It serves in-memory files with `Range`, `If-Range`, `ETag` and `Last-Modified` like a real
origin, and lets a test inject what real networks do: dropped connections, 503/429 with
`Retry-After`, stalls past the client's read timeout, a 200 answer to a Range request, a 206 of
the wrong range, wrong bytes, 404s, redirect chains, files that change between requests, and what
hostile servers do: an endless body, a lying Content-Length, a drip of one byte at a time, a body
gzip-encoded although the client asked for identity. Every request is
logged (method, path, Range, status, body bytes sent) so tests can assert on what the
client actually asked for. Faults apply to GET requests only; a HEAD is answered as the file is.

    with FaultServer() as server:
        url = server.add("/w.pth", data)
        server.fault("/w.pth", Fault(drop_after=1000))   # next request: close after 1000 bytes
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import urlsplit

#: Fixed clock for Last-Modified, so file versions get distinct, predictable dates.
_EPOCH = 1_700_000_000
_SEND_CHUNK = 64 * 1024


@dataclass
class Fault:
    """What goes wrong on the next `times` requests for a path (None: every request)."""

    status: int | None = None  # answer this status with an empty body (404, 429, 503, ...)
    retry_after: str | None = None  # Retry-After header sent with `status`
    drop_after: int | None = None  # close the connection after this many body bytes
    stall_after: int | None = None  # after this many body bytes, go silent for `stall` seconds
    stall: float = 0.0
    ignore_range: bool = False  # answer 200 with the whole file even to a Range request
    corrupt: bool = False  # serve bytes that differ from the file (same length)
    bytes_per_second: float | None = None  # stream slowly
    replace_with: bytes | None = None  # this request gets the old bytes, later ones these
    wrong_range: bool = False  # answer a Range request with 206 and the bytes from 0
    endless: bool = False  # no Content-Length: the file, then zeros until the client hangs up
    announce: int | None = None  # the Content-Length sent, whatever the body's length
    drip: float | None = None  # send one byte, then wait this many seconds, and so on
    gzip: bool = False  # send the body gzip-encoded (Content-Encoding: gzip) whatever was asked
    times: int | None = 1


@dataclass
class SeenRequest:
    """One request as the server saw it; `status` and `sent` are filled in while answering."""

    method: str
    path: str
    query: str
    range: str | None
    if_range: str | None
    status: int = 0
    sent: int = 0  # body bytes handed to the socket


@dataclass
class _File:
    data: bytes
    etag: str | None
    last_modified: str | None


@dataclass
class _Board:
    files: dict[str, _File] = field(default_factory=dict)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    redirects: dict[str, tuple[int, str]] = field(default_factory=dict)
    log: list[SeenRequest] = field(default_factory=list)
    versions: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def new_version(self, data: bytes, etag: bool, last_modified: bool) -> _File:
        """A file record with a fresh ETag and a later Last-Modified (call with `lock` held)."""
        self.versions += 1
        tag = f'"{hashlib.sha256(data).hexdigest()[:16]}-{self.versions}"' if etag else None
        date = email.utils.formatdate(_EPOCH + self.versions, usegmt=True) if last_modified else None
        return _File(data, tag, date)


class FaultServer:
    """A threaded HTTP/1.1 server on an ephemeral port; use as a context manager."""

    def __init__(self) -> None:
        self.board = _Board()
        self.stopping = threading.Event()
        handler = type("BoundHandler", (_Handler,), {"board": self.board, "stopping": self.stopping})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- the switchboard -------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.base_url + path

    def add(self, path: str, data: bytes, *, etag: bool = True, last_modified: bool = True) -> str:
        """Serve `data` at `path` (replacing what was there: a new ETag and date); return its URL."""
        with self.board.lock:
            self.board.files[path] = self.board.new_version(data, etag, last_modified)
        return self.url(path)

    def fault(self, path: str, *faults: Fault) -> None:
        """Queue faults for the next requests of `path`, in order."""
        with self.board.lock:
            self.board.faults.setdefault(path, []).extend(faults)

    def clear_faults(self, path: str) -> None:
        with self.board.lock:
            self.board.faults.pop(path, None)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        """Answer `path` with a redirect to `location` (a path or a full URL); return its URL."""
        with self.board.lock:
            self.board.redirects[path] = (status, location)
        return self.url(path)

    def requests(self, path: str | None = None, method: str = "GET") -> list[SeenRequest]:
        """The logged requests (for one path, or all), oldest first."""
        with self.board.lock:
            return [r for r in self.board.log if (path is None or r.path == path) and r.method == method]


_FLIP = bytes(b ^ 0x5A for b in range(256))


def corrupted(data: bytes) -> bytes:
    """What `Fault(corrupt=True)` serves instead of `data`: every byte changed, same length."""
    return data.translate(_FLIP)


_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    board: _Board
    stopping: threading.Event

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)

    def _answer(self, head: bool) -> None:
        parts = urlsplit(self.path)
        seen = SeenRequest(self.command, parts.path, parts.query, self.headers.get("Range"),
                           self.headers.get("If-Range"))
        with self.board.lock:
            self.board.log.append(seen)
            # faults are for transfers: a HEAD (a client asking for validators) sees the file as it is
            fault = Fault(times=None) if head else self._take_fault(parts.path)
            file = self.board.files.get(parts.path)
            redirect = self.board.redirects.get(parts.path)
            if fault.replace_with is not None and file is not None:  # later requests see the new bytes
                self.board.files[parts.path] = self.board.new_version(
                    fault.replace_with, file.etag is not None, file.last_modified is not None
                )
        try:
            if redirect is not None:
                status, location = redirect
                self._empty(seen, status, {"Location": location})
            elif fault.status is not None:
                extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                self._empty(seen, fault.status, extra)
            elif file is None:
                self._empty(seen, 404, {})
            else:
                self._serve(seen, file, fault, head)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _take_fault(self, path: str) -> Fault:
        queue = self.board.faults.get(path)
        if not queue:
            return Fault(times=None)
        fault = queue[0]
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
        return fault

    def _empty(self, seen: SeenRequest, status: int, headers: dict[str, str]) -> None:
        seen.status = status
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _serve(self, seen: SeenRequest, file: _File, fault: Fault, head: bool) -> None:
        data = file.data
        if fault.corrupt:
            data = corrupted(data)
        start, end, status = 0, len(data), 200
        wanted = _RANGE.match(seen.range or "")
        if wanted and fault.wrong_range:
            status = 206
        elif wanted and not fault.ignore_range and self._if_range_holds(seen.if_range, file):
            start = int(wanted[1])
            end = min(int(wanted[2]) + 1, len(data)) if wanted[2] else len(data)
            if start >= len(data):
                self._empty(seen, 416, {"Content-Range": f"bytes */{len(data)}"})
                return
            status = 206
        seen.status = status
        body = memoryview(data)[start:end]
        if fault.gzip:
            body = memoryview(gzip.compress(bytes(body)))
        self.send_response(status)
        if fault.endless:
            self.send_header("Connection", "close")
        else:
            self.send_header("Content-Length", str(fault.announce if fault.announce is not None else len(body)))
        if fault.gzip:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        if file.etag:
            self.send_header("ETag", file.etag)
        if file.last_modified:
            self.send_header("Last-Modified", file.last_modified)
        self.end_headers()
        if head:
            return
        if fault.endless:
            self._send_endless(seen, body)
        else:
            self._send_body(seen, body, fault)

    @staticmethod
    def _if_range_holds(if_range: str | None, file: _File) -> bool:
        return if_range is None or if_range in (file.etag, file.last_modified)

    def _send_endless(self, seen: SeenRequest, body: memoryview) -> None:
        """The body, then zeros until the client hangs up or the server stops."""
        self.close_connection = True
        chunk = memoryview(bytes(_SEND_CHUNK))
        while not self.stopping.is_set():
            seen.sent += len(body)
            self.wfile.write(body)
            body = chunk

    def _send_body(self, seen: SeenRequest, body: memoryview, fault: Fault) -> None:
        limit = len(body) if fault.drop_after is None else min(fault.drop_after, len(body))
        position = 0
        while position < limit:
            size = min(1 if fault.drip else _SEND_CHUNK, limit - position)
            if fault.stall_after is not None and position < fault.stall_after:
                size = min(size, fault.stall_after - position)
            chunk = body[position:position + size]
            seen.sent += len(chunk)  # counted before sending, so the log is complete when the client is
            self.wfile.write(chunk)
            position += size
            if fault.stall_after is not None and position == fault.stall_after:
                self.wfile.flush()
                if self.stopping.wait(fault.stall):
                    return
            if fault.bytes_per_second or fault.drip:
                self.wfile.flush()
                if self.stopping.wait(fault.drip or size / (fault.bytes_per_second or 1)):
                    return
        if limit < len(body):  # the drop: close mid-body so the client sees a short read
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `condition()` until true (tests use it to catch a download mid-way)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached in time")
        time.sleep(0.02)
