"""The one error of a dataset that is nowhere: each place searched in order, what the
download failed on (host and reason), and the ways to fix it; and the budgets that stop a
hostile source: an endless one, one that lies about its size, an archive bomb. Downloads
here reach only this machine: a closed loopback port, loopback HTTP servers, file:// paths."""

from __future__ import annotations

import _thread
import contextlib
import functools
import http.server
import io
import socket
import threading
import urllib.error
import zipfile
from collections.abc import Iterator

import pytest

from models.downloads import (
    Budget,
    DataNotFound,
    DownloadRefused,
    download_failure,
    download_file,
    zip_member,
)

BLOCK = b"\0" * (1 << 16)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(handler) -> Iterator[str]:
    """A loopback HTTP server answering with `handler` in threads; its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http_server(tmp_path):
    """A loopback HTTP server on an empty folder: every file is a 404."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    with serving(handler) as url:
        yield url


class _Hostile(http.server.BaseHTTPRequestHandler):
    """A source that never ends (`/endless`), announces 10 GiB (`/lies`), breaks off after
    10 of the 1,000 bytes it announced (`/breaks-off`), or interrupts the test's main
    thread, as Ctrl-C would, once it has sent its first block (`/interrupts`)."""

    protocol_version = "HTTP/1.0"  # the answer ends where the connection does

    def do_GET(self):
        self.send_response(200)
        length = {"/lies": 10 << 30, "/breaks-off": 1000}.get(self.path)
        if length:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.path == "/breaks-off":
            self.wfile.write(b"x" * 10)
            return
        with contextlib.suppress(ConnectionError):  # the client hung up: the end
            self.wfile.write(BLOCK)
            if self.path == "/interrupts":
                _thread.interrupt_main()
            while True:
                self.wfile.write(BLOCK)

    def log_message(self, *args):
        pass


@pytest.fixture
def hostile():
    with serving(_Hostile) as url:
        yield url


def _failure(url: str, tmp_path) -> str:
    with pytest.raises(OSError) as error:
        download_file(url, tmp_path / "landed")
    assert not (tmp_path / "landed").exists() and not list(tmp_path.glob("*.part"))
    return download_failure(url, error.value)


def test_a_closed_port_is_named_with_its_host_and_refusal(tmp_path):
    port = closed_port()
    assert _failure(f"http://127.0.0.1:{port}/x.gz", tmp_path) == \
        f"127.0.0.1:{port}: Connection refused"


def test_an_http_error_gives_its_status(http_server, tmp_path):
    host = http_server.removeprefix("http://")
    assert _failure(f"{http_server}/x.gz", tmp_path) == f"{host}: HTTP 404 File not found"


def test_a_missing_file_url_says_so(tmp_path):
    assert _failure((tmp_path / "absent.gz").as_uri(), tmp_path) == \
        "No such file or directory"


def test_an_unknown_host_gives_the_resolver_s_reason():
    # the error urllib raises when a name does not resolve, built here: no network
    error = urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))
    assert download_failure("http://example.invalid/x.gz", error) == \
        "example.invalid: Name or service not known"
    assert download_failure("http://h/x", ValueError("checksum mismatch for x")) == \
        "h: checksum mismatch for x"


def test_the_message_names_each_place_in_order_the_failure_and_every_fix(tmp_path):
    absent, empty, other = tmp_path / "absent", tmp_path / "empty", tmp_path / "other"
    empty.mkdir()
    other.mkdir()
    (other / "c.gz").write_bytes(b"")
    url = f"http://127.0.0.1:{closed_port()}/data/"
    with pytest.raises(OSError) as download:
        download_file(url + "a.gz", tmp_path / "a.gz")
    error = DataNotFound("Some data", "a.gz and b.gz", [absent, empty, other], data_dir="some",
                         folder=tmp_path / "cache", flag="--data DIR", package="data-pkg",
                         url=url, error=download.value)
    assert isinstance(error, FileNotFoundError) and error.searched == [absent, empty, other]
    lines = str(error).splitlines()
    assert lines[:4] == ["Some data not found: looked for a.gz and b.gz in",
                         f"  {absent} (absent)", f"  {empty} (empty)", f"  {other}"]
    assert lines[4] == f"downloading {url} failed: {download_failure(url, download.value)}."
    assert "Connection refused" in lines[4]
    assert lines[5:] == ["To fix it, either",
                         "  - install the Debian package: apt-get install data-pkg",
                         f"  - put them in {tmp_path / 'cache'}",
                         "  - name where they are: --data DIR",
                         "  - set TFSTACK_DATA_DIR to a folder whose some/ holds them"]


def test_without_a_download_it_says_none_was_tried_and_fixes_can_change():
    error = DataNotFound("Some data", "a.gz", [], data_dir="some", flag="--data DIR")
    assert "\nno download was tried.\n" in str(error)
    changed = error.but(flag=None, also=["do without it: --no-data"])
    assert "--data DIR" not in str(changed) and str(changed).endswith("  - do without it: "
                                                                      "--no-data")
    assert isinstance(changed, DataNotFound)


def _refused(url: str, folder, max_bytes: int) -> str:
    """The message of a download of `url` refused for its size; `folder` left empty."""
    with pytest.raises(DownloadRefused) as error:
        download_file(url, folder / "landed", max_bytes)
    assert list(folder.iterdir()) == []  # neither the file nor its .part
    return download_failure(url, error.value)


def test_an_endless_source_is_cut_at_its_budget_and_leaves_no_part(hostile, tmp_path):
    message = _refused(f"{hostile}/endless", tmp_path, 1 << 20)
    assert message.endswith("endless went past its budget of 1,048,576 bytes: cut off there "
                            "(not the file expected, an endless source or an archive bomb)")


def test_a_size_announced_over_the_budget_is_refused_unread(hostile, tmp_path):
    message = _refused(f"{hostile}/lies", tmp_path, 1 << 20)
    assert message.endswith("lies announces 10,737,418,240 bytes, over its budget of "
                            "1,048,576: refused unread (not the file expected, or a hostile "
                            "source)")


def test_a_file_lands_at_its_budget_and_is_refused_a_byte_over(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"x" * 1000)
    landed = download_file(source.as_uri(), tmp_path / "out" / "landed", 1000)
    assert landed.read_bytes() == b"x" * 1000
    (tmp_path / "out" / "landed").unlink()
    assert "source.bin announces 1,000 bytes, over its budget of 999" in \
        _refused(source.as_uri(), tmp_path / "out", 999)


def test_a_source_that_breaks_off_is_one_clear_error(hostile, tmp_path):
    host = hostile.removeprefix("http://")
    assert _failure(f"{hostile}/breaks-off", tmp_path) == \
        f"{host}: breaks-off broke off after 10 of its 1,000 bytes; try again"


def test_an_interrupt_mid_download_leaves_no_part(hostile, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        download_file(f"{hostile}/interrupts", tmp_path / "landed", 256 << 20)
    assert list(tmp_path.iterdir()) == []


def _zip(**members: bytes) -> zipfile.ZipFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return zipfile.ZipFile(buffer)


def test_an_archive_bomb_is_refused_unread_by_size_ratio_or_total():
    small = Budget(member=4 << 20, total=16 << 20, ratio=20)
    with pytest.raises(DownloadRefused, match=r"^big in a.zip declares 8,388,608 bytes, over "
                                              r"its budget of 4,194,304: refused unread"):
        zip_member(_zip(big=bytes(8 << 20)), "big", small, "a.zip")
    with pytest.raises(DownloadRefused, match=r"^zeros in a.zip would inflate [\d,]+-fold "
                                              r"\([\d,]+ to 2,097,152 bytes\), more than the "
                                              r"20-fold a real release does"):
        zip_member(_zip(zeros=bytes(2 << 20)), "zeros", small, "a.zip")
    with pytest.raises(DownloadRefused, match=r"^a.zip \(all members\) declares 4,194,304"):
        zip_member(_zip(a=bytes(1 << 20), b=bytes(1 << 20), c=bytes(1 << 20), d=bytes(1 << 20)),
                   "a", Budget(member=1 << 20, total=3 << 20, ratio=10_000), "a.zip")


def test_a_member_within_its_budget_is_streamed_whole():
    text = "".join(f"{n}\tline {n}\n" for n in range(100_000)).encode()
    with zip_member(_zip(m=text), "m", Budget(member=len(text)), "a.zip") as stream:
        assert stream.read() == text
