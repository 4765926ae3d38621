"""zoo.store.fetch.download against a real HTTP server with injected faults, real files and real processes."""

from __future__ import annotations

import email.utils
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from tests.fault_server import Fault, FaultServer, corrupted, wait_for
from zoo.errors import FetchError, IntegrityError
from zoo.redaction import redact
from zoo.store.fetch.archive import safe_extract
from zoo.store.fetch.download import QUARANTINE, _Partial, fetch
from zoo_cli.progress import FetchLines, fetch_display

DATA = os.urandom(3_000_000)
SHA = hashlib.sha256(DATA).hexdigest()
FAST = {"timeout": (5.0, 5.0)}


def leftovers(folder: Path) -> list[str]:
    """Files a finished fetch must not leave behind (partial downloads and their sidecars)."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".part", ".part.json")))


# -- plain downloads and resume ----------------------------------------------------------------


def test_download_is_hashed_checked_and_published(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    result = fetch(url, tmp_path / "w.pth", sha256=SHA, size=len(DATA), **FAST)
    assert (tmp_path / "w.pth").read_bytes() == DATA
    assert (result.sha256, result.size, result.resumed_bytes, result.attempts) == (SHA, len(DATA), 0, 1)
    assert result.source_url == url
    assert leftovers(tmp_path) == []


def test_unpinned_download_reports_its_digest(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    assert fetch(url, tmp_path / "w.pth", **FAST).sha256 == SHA


def test_resume_after_a_drop_fetches_only_the_rest(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(drop_after=1_234_567))
    result = fetch(url, tmp_path / "w.pth", sha256=SHA, **FAST)
    first, second = fault_server.requests("/w.pth")
    assert (first.range, first.status, first.sent) == (None, 200, 1_234_567)
    assert second.range == "bytes=1234567-"
    assert second.if_range is not None and second.if_range.startswith('"')  # the ETag of the first answer
    assert (second.status, second.sent) == (206, len(DATA) - 1_234_567)
    assert (result.resumed_bytes, result.attempts) == (1_234_567, 2)
    assert (tmp_path / "w.pth").read_bytes() == DATA


def test_resume_uses_last_modified_without_etag(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA, etag=False)
    fault_server.fault("/w.pth", Fault(drop_after=1_000_000))
    fetch(url, tmp_path / "w.pth", **FAST)
    second = fault_server.requests("/w.pth")[1]
    assert second.range == "bytes=1000000-"
    assert second.if_range is not None and second.if_range.endswith("GMT")
    assert (tmp_path / "w.pth").read_bytes() == DATA


def test_unpinned_file_without_validator_is_not_resumed(fault_server: FaultServer, tmp_path: Path) -> None:
    """Nothing could tell a changed file: start over rather than splice two versions."""
    url = fault_server.add("/w.pth", DATA, etag=False, last_modified=False)
    fault_server.fault("/w.pth", Fault(drop_after=1_000_000))
    result = fetch(url, tmp_path / "w.pth", **FAST)
    assert [r.range for r in fault_server.requests("/w.pth")] == [None, None]
    assert result.sha256 == SHA and result.resumed_bytes == 0


def test_server_ignoring_range_restarts_from_zero(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(drop_after=1_000_000), Fault(ignore_range=True))
    result = fetch(url, tmp_path / "w.pth", sha256=SHA, **FAST)
    second = fault_server.requests("/w.pth")[1]
    assert (second.range, second.status, second.sent) == ("bytes=1000000-", 200, len(DATA))
    assert result.resumed_bytes == 0
    assert (tmp_path / "w.pth").read_bytes() == DATA


def test_file_changed_between_requests_restarts_with_the_new_file(fault_server: FaultServer, tmp_path: Path) -> None:
    new = os.urandom(2_500_000)
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(drop_after=1_000_000, replace_with=new))
    result = fetch(url, tmp_path / "w.pth", **FAST)
    second = fault_server.requests("/w.pth")[1]
    assert second.range == "bytes=1000000-" and second.status == 200  # If-Range no longer holds
    assert result.sha256 == hashlib.sha256(new).hexdigest() and result.resumed_bytes == 0
    assert (tmp_path / "w.pth").read_bytes() == new


def test_complete_partial_download_is_finished_on_416(fault_server: FaultServer, tmp_path: Path) -> None:
    """A run killed after the last byte but before publishing: the next one sends no body again."""
    url = fault_server.add("/w.pth", DATA)
    dest = tmp_path / "w.pth"
    partial = _Partial.beside(dest)
    partial.start(url, SHA, None, "identity")
    partial.part.write_bytes(DATA)
    result = fetch(url, dest, sha256=SHA, **FAST)
    (seen,) = fault_server.requests("/w.pth")
    assert (seen.range, seen.status, seen.sent) == (f"bytes={len(DATA)}-", 416, 0)
    assert result.resumed_bytes == len(DATA) and dest.read_bytes() == DATA


def test_partial_longer_than_the_file_starts_over(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    dest = tmp_path / "w.pth"
    partial = _Partial.beside(dest)
    partial.start(url, SHA, None, "identity")
    partial.part.write_bytes(DATA + b"junk")
    fetch(url, dest, sha256=SHA, **FAST)
    assert [r.status for r in fault_server.requests("/w.pth")] == [416, 200]
    assert dest.read_bytes() == DATA


# -- retries -----------------------------------------------------------------------------------


def test_503_retry_after_seconds_is_honoured(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(status=503, retry_after="1"))
    start = time.monotonic()
    result = fetch(url, tmp_path / "w.pth", sha256=SHA, **FAST)
    assert time.monotonic() - start >= 1.0  # the backoff alone would wait at most 0.5 s
    assert [r.status for r in fault_server.requests("/w.pth")] == [503, 200]
    assert result.attempts == 2


def test_429_retry_after_http_date_is_honoured(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(status=429, retry_after=email.utils.formatdate(time.time() + 3, usegmt=True)))
    start = time.monotonic()
    fetch(url, tmp_path / "w.pth", sha256=SHA, **FAST)
    assert time.monotonic() - start >= 2.0  # the date has whole seconds: at least 2 of the 3 remain
    assert [r.status for r in fault_server.requests("/w.pth")] == [429, 200]


def test_stall_past_the_read_timeout_is_retried_and_resumed(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(stall_after=700_000, stall=10))
    result = fetch(url, tmp_path / "w.pth", sha256=SHA, timeout=(5.0, 0.5))
    first, second = fault_server.requests("/w.pth")
    assert first.sent == 700_000 and second.range == "bytes=700000-"
    assert result.resumed_bytes == 700_000 and (tmp_path / "w.pth").read_bytes() == DATA


def test_repeated_drops_resume_until_complete(fault_server: FaultServer, tmp_path: Path) -> None:
    """Failures that make progress do not use up the retries."""
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(drop_after=400_000, times=5))
    result = fetch(url, tmp_path / "w.pth", sha256=SHA, retries=1, **FAST)
    assert [r.range for r in fault_server.requests("/w.pth")] == [
        None, *(f"bytes={400_000 * i}-" for i in range(1, 6))
    ]
    assert result.attempts == 6 and (tmp_path / "w.pth").read_bytes() == DATA


def test_persistent_5xx_gives_up_with_advice(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(status=500, times=None))
    with pytest.raises(FetchError) as caught:
        fetch(url, tmp_path / "w.pth", retries=2, **FAST)
    assert "HTTP 500" in str(caught.value) and "gave up after 3 attempt(s)" in str(caught.value)
    assert "--weights-from" in str(caught.value)
    assert len(fault_server.requests("/w.pth")) == 3
    assert not (tmp_path / "w.pth").exists()


def test_connection_refused_is_retried_then_reported(tmp_path: Path) -> None:
    with FaultServer() as server:
        url = server.url("/w.pth")  # the port is closed once the server is gone
    with pytest.raises(FetchError, match=r"connection refused; gave up after 2 attempt"):
        fetch(url, tmp_path / "w.pth", retries=1, **FAST)


def test_404_is_not_retried(fault_server: FaultServer, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match=r"not found \(HTTP 404"):
        fetch(fault_server.url("/missing.pth"), tmp_path / "w.pth", **FAST)
    assert len(fault_server.requests("/missing.pth")) == 1


def test_redirect_chain_is_followed(fault_server: FaultServer, tmp_path: Path) -> None:
    fault_server.add("/files/w.pth", DATA)
    fault_server.redirect("/b/w.pth", "/files/w.pth", 302)
    url = fault_server.redirect("/a/w.pth", fault_server.url("/b/w.pth"), 301)
    assert fetch(url, tmp_path / "w.pth", sha256=SHA, **FAST).sha256 == SHA
    assert [r.path for r in fault_server.requests()] == ["/a/w.pth", "/b/w.pth", "/files/w.pth"]


def test_resume_through_a_redirect(fault_server: FaultServer, tmp_path: Path) -> None:
    fault_server.add("/files/w.pth", DATA)
    url = fault_server.redirect("/w.pth", "/files/w.pth", 302)
    fault_server.fault("/files/w.pth", Fault(drop_after=1_000_000))
    result = fetch(url, tmp_path / "w.pth", sha256=SHA, **FAST)
    assert fault_server.requests("/files/w.pth")[1].range == "bytes=1000000-"
    assert result.resumed_bytes == 1_000_000


def test_redirect_loop_is_reported(fault_server: FaultServer, tmp_path: Path) -> None:
    fault_server.redirect("/b/w.pth", "/a/w.pth")
    url = fault_server.redirect("/a/w.pth", "/b/w.pth")
    with pytest.raises(FetchError, match="too many redirects"):
        fetch(url, tmp_path / "w.pth", **FAST)


# -- integrity ---------------------------------------------------------------------------------


def test_wrong_bytes_are_quarantined_and_not_published(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(corrupt=True))
    with pytest.raises(IntegrityError) as caught:
        fetch(url, tmp_path / "w.pth", sha256=SHA, **FAST)
    wrong = corrupted(DATA)
    message = str(caught.value)
    assert url in message and SHA in message and hashlib.sha256(wrong).hexdigest() in message
    assert "zoo lock" in message
    assert not (tmp_path / "w.pth").exists()
    (kept,) = (tmp_path / QUARANTINE).iterdir()
    assert kept.read_bytes() == wrong
    assert leftovers(tmp_path) == []


def test_announced_size_mismatch_downloads_nothing(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    with pytest.raises(IntegrityError, match=f"announces {len(DATA)} bytes, but 123 are pinned"):
        fetch(url, tmp_path / "w.pth", size=123, **FAST)
    assert not (tmp_path / "w.pth").exists() and not (tmp_path / QUARANTINE).exists()
    assert leftovers(tmp_path) == []


def test_hash_prefix_is_checked(fault_server: FaultServer, tmp_path: Path) -> None:
    good = fault_server.add(f"/resnet-{SHA[:8]}.pth", DATA)
    assert fetch(good, tmp_path / "good.pth", hash_prefix=SHA[:8], **FAST).sha256 == SHA
    bad = fault_server.add("/resnet-0badc0de.pth", DATA)
    with pytest.raises(IntegrityError, match="does not start with the hash prefix 0badc0de"):
        fetch(bad, tmp_path / "bad.pth", hash_prefix="0badc0de", **FAST)
    assert not (tmp_path / "bad.pth").exists() and any((tmp_path / QUARANTINE).iterdir())


def test_pinned_file_already_in_place_is_not_fetched_again(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    fetch(url, tmp_path / "w.pth", sha256=SHA, **FAST)
    again = fetch(url, tmp_path / "w.pth", sha256=SHA, **FAST)
    assert again.attempts == 0 and len(fault_server.requests("/w.pth")) == 1


def test_corrupt_file_in_place_is_replaced(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    (tmp_path / "w.pth").write_bytes(b"not the weights")
    assert fetch(url, tmp_path / "w.pth", sha256=SHA, **FAST).attempts == 1
    assert (tmp_path / "w.pth").read_bytes() == DATA


# -- local files, mirrors, offline, pins -------------------------------------------------------


def test_file_url_and_plain_path_are_copied_and_checked(tmp_path: Path) -> None:
    source = tmp_path / "src" / "w.pth"
    source.parent.mkdir()
    source.write_bytes(DATA)
    by_url = fetch(source.as_uri(), tmp_path / "a" / "w.pth", sha256=SHA, **FAST)
    by_path = fetch(str(source), tmp_path / "b" / "w.pth", sha256=SHA, **FAST)
    assert by_url.sha256 == by_path.sha256 == SHA
    assert (tmp_path / "a" / "w.pth").read_bytes() == (tmp_path / "b" / "w.pth").read_bytes() == DATA
    with pytest.raises(IntegrityError, match="expected 0000"):
        fetch(str(source), tmp_path / "c" / "w.pth", sha256="0" * 64, **FAST)
    assert source.read_bytes() == DATA and not (tmp_path / "c" / "w.pth").exists()


def test_missing_local_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="no such file"):
        fetch(str(tmp_path / "nope.pth"), tmp_path / "out" / "w.pth", **FAST)


def test_mirror_folder_is_tried_before_the_url(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "w.pth").write_bytes(DATA)
    result = fetch(url, tmp_path / "out" / "w.pth", sha256=SHA, mirrors=[str(mirror)], **FAST)
    assert result.source_url == str(mirror / "w.pth")
    assert fault_server.requests() == []


def test_mirror_url_is_tried_before_the_url(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/origin/w.pth", DATA)
    fault_server.add("/mirror/w.pth", DATA)
    result = fetch(url, tmp_path / "w.pth", sha256=SHA, mirrors=[fault_server.url("/mirror")], **FAST)
    assert result.source_url == fault_server.url("/mirror/w.pth")
    assert [r.path for r in fault_server.requests()] == ["/mirror/w.pth"]


def test_missing_mirror_falls_back_to_the_url(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/origin/w.pth", DATA)
    result = fetch(url, tmp_path / "w.pth", sha256=SHA,
                   mirrors=[str(tmp_path / "empty"), fault_server.url("/mirror/")], **FAST)
    assert result.source_url == url
    assert [r.path for r in fault_server.requests()] == ["/mirror/w.pth", "/origin/w.pth"]


def test_mirror_with_wrong_bytes_falls_back_and_warns(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "w.pth").write_bytes(b"tampered")
    result = fetch(url, tmp_path / "out" / "w.pth", sha256=SHA, mirrors=[str(mirror)], **FAST)
    assert result.source_url == url and (tmp_path / "out" / "w.pth").read_bytes() == DATA
    assert len(result.warnings) == 1 and str(mirror) in result.warnings[0]


def test_offline_refuses_the_network(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    with pytest.raises(FetchError) as caught:
        fetch(url, tmp_path / "w.pth", sha256=SHA, offline=True, mirrors=[str(tmp_path / "m")], **FAST)
    message = str(caught.value)
    assert "--offline" in message and "--weights-from DIR" in message and "no such file" in message
    assert fault_server.requests() == []


def test_offline_uses_a_mirror_folder(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "w.pth").write_bytes(DATA)
    result = fetch("https://example.invalid/w.pth", tmp_path / "w.pth", sha256=SHA, offline=True,
                   mirrors=[mirror.as_uri()], **FAST)
    assert result.sha256 == SHA


def test_require_pinned_refuses_unpinned_weights(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    with pytest.raises(FetchError, match=r"no sha256 pin.*zoo lock"):
        fetch(url, tmp_path / "w.pth", require_pinned=True, **FAST)
    assert fault_server.requests() == []
    assert fetch(url, tmp_path / "w.pth", sha256=SHA, require_pinned=True, **FAST).sha256 == SHA


# -- credentials -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        ("https://alice:pa55word@host/w.pth", ["alice", "pa55word"]),
        ("https://ghp_TOKEN123@host/w.pth", ["ghp_TOKEN123"]),
        ("https://host/w.pth?token=tok123&x=1", ["tok123"]),
        ("https://b.s3.amazonaws.com/w.pth?X-Amz-Credential=AKIA1&X-Amz-Signature=abcdef&X-Amz-Expires=60",
         ["AKIA1", "abcdef"]),
        ("https://acct.blob.core.windows.net/c/w.pth?sv=2020&sig=s1g%3D", ["s1g%3D"]),
        ("https://host/w.pth?api_key=k1&access_token=t2", ["k1", "t2"]),
    ],
)
def test_redact_masks_credentials(url: str, secrets: list[str]) -> None:
    shown = redact(url)
    assert "***" in shown and all(secret not in shown for secret in secrets)
    assert shown.split("?")[0].endswith("/w.pth")


def test_redact_leaves_plain_urls_alone() -> None:
    assert redact("https://host/w.pth?x=1") == "https://host/w.pth?x=1"


def test_errors_and_progress_lines_never_show_credentials(
    fault_server: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fault_server.add("/w.pth", DATA)
    secret = fault_server.base_url.replace("http://", "http://bob:hunter2@")
    with pytest.raises(FetchError) as missing:
        fetch(f"{secret}/missing.pth?token=tok123", tmp_path / "m.pth")
    fault_server.fault("/w.pth", Fault(corrupt=True), Fault(drop_after=1000))
    with pytest.raises(IntegrityError) as wrong:
        fetch(f"{secret}/w.pth?X-Amz-Signature=sig456", tmp_path / "w.pth", sha256=SHA, progress=FetchLines())
    fetch(f"{secret}/w.pth?X-Amz-Signature=sig456", tmp_path / "w.pth", sha256=SHA, progress=FetchLines())
    with FaultServer() as gone:
        closed = gone.base_url.replace("http://", "http://bob:hunter2@") + "/w.pth?token=tok123"
    with pytest.raises(FetchError) as refused:
        fetch(closed, tmp_path / "r.pth", retries=0, progress=FetchLines())
    printed = capsys.readouterr()
    shown = "\n".join([str(missing.value), str(wrong.value), str(refused.value), printed.err, printed.out])
    assert "fetched w.pth" in printed.err and "retrying in" in printed.err  # the lines were printed
    for secret_text in ("hunter2", "bob", "tok123", "sig456"):
        assert secret_text not in shown
    assert "***" in str(missing.value) and "***" in str(wrong.value)


def test_progress_line_off_a_terminal(fault_server: FaultServer, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    url = fault_server.add("/w.pth", DATA)
    with fetch_display("w.pth") as progress:  # the command's choice: stderr is no terminal here
        fetch(url, tmp_path / "w.pth", progress=progress)
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("fetched w.pth (3.0 MB in ") and SHA in line and url in line


class Recorded:
    """A caller's progress object that keeps what it is told."""

    def __init__(self) -> None:
        self.starts: list[tuple[int | None, int]] = []
        self.advanced = 0
        self.notes: list[str] = []

    def start(self, total: int | None, completed: int = 0) -> None:
        self.starts.append((total, completed))

    def advance(self, amount: int) -> None:
        self.advanced += amount

    def note(self, message: str) -> None:
        self.notes.append(message)


def test_progress_goes_to_the_callers_object(fault_server: FaultServer, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(drop_after=1_000_000))
    progress = Recorded()
    fetch(url, tmp_path / "w.pth", sha256=SHA, progress=progress, **FAST)
    assert progress.starts == [(len(DATA), 0), (len(DATA), 1_000_000)]  # the second attempt resumes
    assert progress.advanced == len(DATA)
    assert any("retrying in" in note for note in progress.notes)
    assert progress.notes[-1].startswith("fetched w.pth (3.0 MB in ") and "resumed at 1.0 MB" in progress.notes[-1]
    assert capsys.readouterr().err == ""  # the library itself prints nothing


def _caused(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


def test_network_errors_are_named_by_their_type() -> None:
    """requests wraps urllib3, which wraps the socket error: the reason comes from the classes."""
    import http.client
    import socket

    import requests
    import urllib3.exceptions as u3

    from zoo.store.fetch.download import _network_reason

    def pool_error(reason: BaseException) -> requests.ConnectionError:
        return requests.ConnectionError(u3.MaxRetryError(None, "/w.pth", reason))  # type: ignore[arg-type]

    gaierror = socket.gaierror(-2, "Name or service not known")
    cases = {
        "host name not found": pool_error(u3.NameResolutionError("host", None, gaierror)),  # type: ignore[arg-type]
        "connection refused": pool_error(_caused(u3.NewConnectionError(None, "failed"),  # type: ignore[arg-type]
                                                 ConnectionRefusedError(111, "refused"))),
        "connection timed out": requests.ConnectTimeout(u3.MaxRetryError(
            None, "/w.pth", _caused(u3.ConnectTimeoutError(None, "timed out"), TimeoutError()))),  # type: ignore[arg-type]
        "read timed out": requests.ConnectionError(u3.ReadTimeoutError(None, "/w.pth", "Read timed out.")),  # type: ignore[arg-type]
        "connection broken mid-transfer": u3.ProtocolError("Connection broken", http.client.IncompleteRead(b"x", 5)),
        "connection reset": pool_error(u3.ProtocolError("Connection aborted.", http.client.RemoteDisconnected("x"))),
    }
    for reason, error in cases.items():
        assert _network_reason(error) == reason, reason
    unknown = requests.ConnectionError("odd failure at https://bob:hunter2@host/w.pth?token=tok123")
    assert _network_reason(unknown) == "odd failure at https://***@host/w.pth?token=***"


# -- processes: kill -9 and concurrency --------------------------------------------------------

_CHILD = """
import json, sys, time
from pathlib import Path
from zoo.store.fetch.download import fetch
url, dest, sha, ready, go = sys.argv[1], Path(sys.argv[2]), sys.argv[3] or None, sys.argv[4], sys.argv[5]
if ready:  # line up with the other process: say we are ready, then wait for the start signal
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.005)
result = fetch(url, dest, sha256=sha)
print(json.dumps({"sha256": result.sha256, "attempts": result.attempts, "resumed": result.resumed_bytes}))
"""


def _child(url: str, dest: Path, sha256: str | None, ready: Path | None = None,
           go: Path | None = None) -> subprocess.Popen[str]:
    argv = [url, str(dest), sha256 or "", str(ready or ""), str(go or "")]
    return subprocess.Popen([sys.executable, "-c", _CHILD, *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_9_mid_download_then_rerun_resumes(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(bytes_per_second=600_000, times=None))
    dest = tmp_path / "w.pth"
    part = _Partial.beside(dest).part
    child = _child(url, dest, SHA)
    try:
        wait_for(lambda: part.exists() and part.stat().st_size >= 500_000, timeout=30)
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate()
    assert child.returncode == -signal.SIGKILL
    assert not dest.exists()
    kept = part.stat().st_size
    assert 0 < kept < len(DATA)
    fault_server.clear_faults("/w.pth")
    result = fetch(url, dest, sha256=SHA, **FAST)
    last = fault_server.requests("/w.pth")[-1]
    assert (last.range, last.status, last.sent) == (f"bytes={kept}-", 206, len(DATA) - kept)
    assert result.resumed_bytes == kept and dest.read_bytes() == DATA


@pytest.mark.parametrize("pinned", [True, False], ids=["pinned", "unpinned"])
def test_two_processes_fetching_one_file_download_it_once(
    fault_server: FaultServer, tmp_path: Path, pinned: bool
) -> None:
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(bytes_per_second=2_000_000, times=None))
    dest = tmp_path / "w.pth"
    ready = [tmp_path / f"ready-{i}" for i in range(2)]
    children = [_child(url, dest, SHA if pinned else None, flag, tmp_path / "go") for flag in ready]
    wait_for(lambda: all(flag.exists() for flag in ready), timeout=60)
    (tmp_path / "go").touch()
    outputs = [child.communicate(timeout=60) for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    results = [json.loads(stdout) for stdout, _ in outputs]
    assert [r["sha256"] for r in results] == [SHA, SHA]
    assert sorted(r["attempts"] for r in results) == [0, 1]  # one downloaded, the other found it done
    assert len(fault_server.requests("/w.pth")) == 1
    assert dest.read_bytes() == DATA


# -- safe unpacking ----------------------------------------------------------------------------


def _tar(path: Path, *members: tuple[tarfile.TarInfo, bytes | None]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info


def test_safe_extract_unpacks_a_good_tar(tmp_path: Path) -> None:
    archive = _tar(
        tmp_path / "model.tar.gz",
        (_member("model", tarfile.DIRTYPE), None),
        (_member("model/inference.pdiparams"), b"params"),
        (_member("model/sub/inference.json"), b"{}"),
        (_member("model/latest", tarfile.SYMTYPE, "inference.pdiparams"), None),
        (_member("model/copy", tarfile.LNKTYPE, "model/inference.pdiparams"), None),
    )
    out = safe_extract(archive, tmp_path / "out")
    assert (out / "model" / "inference.pdiparams").read_bytes() == b"params"
    assert (out / "model" / "sub" / "inference.json").read_bytes() == b"{}"
    assert (out / "model" / "latest").is_symlink() and (out / "model" / "latest").read_bytes() == b"params"
    assert (out / "model" / "copy").read_bytes() == b"params"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp folder left


def test_safe_extract_replaces_an_older_folder(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stale").write_text("old")
    safe_extract(_tar(tmp_path / "a.tar", (_member("new"), b"1")), tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["new"]


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ([(_member("../evil"), b"x")], "climbs out of the folder"),
        ([(_member("ok/../../evil"), b"x")], "climbs out of the folder"),
        ([(_member("/tmp/evil"), b"x")], "absolute path"),
        ([(_member("link", tarfile.SYMTYPE, "../../outside"), None)], "links outside the folder"),
        ([(_member("link", tarfile.SYMTYPE, "/etc/passwd"), None)], "absolute path"),
        ([(_member("hard", tarfile.LNKTYPE, "../outside"), None)], "links outside the folder"),
        ([(_member("hard", tarfile.LNKTYPE, "/etc/passwd"), None)], "absolute path"),
        ([(_member("dev", tarfile.CHRTYPE), None)], "device file"),
        ([(_member("disk", tarfile.BLKTYPE), None)], "device file"),
        ([(_member("pipe", tarfile.FIFOTYPE), None)], "FIFO"),
        ([(_member("dir", tarfile.SYMTYPE, "."), None), (_member("dir/evil"), b"x")], "through a symbolic link"),
        ([(_member("a", tarfile.SYMTYPE, "."), None), (_member("a"), b"x")], "through a symbolic link"),
        # each link looks inside on its own; resolved as a chain, `a` leaves the folder
        ([(_member("d", tarfile.DIRTYPE), None), (_member("d/e", tarfile.SYMTYPE, ".."), None),
          (_member("a", tarfile.SYMTYPE, "d/e/.."), None)], "outside"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink-out", "symlink-absolute", "hardlink-out",
         "hardlink-absolute", "char-device", "block-device", "fifo", "write-through-symlink",
         "replace-symlink", "symlink-chain"],
)
def test_safe_extract_refuses_dangerous_tar_members(
    tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], reason: str
) -> None:
    archive = _tar(tmp_path / "evil.tar.gz", *members)
    with pytest.raises(FetchError, match=reason) as caught:
        safe_extract(archive, tmp_path / "box" / "out")
    assert "member" in str(caught.value) and str(archive) in str(caught.value)
    assert not (tmp_path / "box" / "out").exists()
    assert [p.name for p in (tmp_path / "box").iterdir()] == []  # the temp folder is gone too
    assert not (tmp_path / "evil").exists() and not (tmp_path / "outside").exists()


def _zip(path: Path, *entries: tuple[str, bytes, int]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def test_safe_extract_unpacks_a_good_zip(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "w.zip", ("w/model.onnx", b"onnx", 0o100644),
                   ("w/alias.onnx", b"model.onnx", 0o120777))
    out = safe_extract(archive, tmp_path / "out")
    assert (out / "w" / "model.onnx").read_bytes() == b"onnx"
    assert (out / "w" / "alias.onnx").is_symlink() and (out / "w" / "alias.onnx").read_bytes() == b"onnx"


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (("../evil", b"x", 0o100644), "climbs out of the folder"),
        (("/evil", b"x", 0o100644), "absolute path"),
        (("link", b"../../outside", 0o120777), "links outside the folder"),
        (("dev", b"", 0o020644), "device file"),
    ],
    ids=["dotdot", "absolute", "symlink-out", "device"],
)
def test_safe_extract_refuses_dangerous_zip_members(tmp_path: Path, entry: tuple[str, bytes, int],
                                                    reason: str) -> None:
    archive = _zip(tmp_path / "evil.zip", entry)
    with pytest.raises(FetchError, match=reason):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil").exists()


def test_safe_extract_rejects_what_is_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "w.pth").write_bytes(DATA[:1000])
    with pytest.raises(FetchError, match="not a tar or zip archive"):
        safe_extract(tmp_path / "w.pth", tmp_path / "out")
