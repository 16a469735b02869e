"""The one error of a dataset that is nowhere: each place searched in order, what the
download failed on (host and reason), and the ways to fix it. Downloads here reach only
this machine: a closed loopback port, a loopback HTTP server, a missing file:// path."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
import urllib.error

import pytest

from models.downloads import DataNotFound, download_failure, download_file


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def http_server(tmp_path):
    """A loopback HTTP server on an empty folder: every file is a 404."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


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
