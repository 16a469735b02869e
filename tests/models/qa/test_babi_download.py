"""Finding, downloading and checking the bAbI tasks, against local `file://` mirrors of
the official archive built from the real files (nothing is downloaded in tests)."""

from __future__ import annotations

import io
import logging
import os
import tarfile
from pathlib import Path

import pytest

from models.downloads import DataNotFound
from models.qa import babi
from models.qa.babi_checksums import SHA256
from models.qa.babi_download import ARCHIVE, MEMBER_DIR

_FOUND = [d for d in babi.SHARED_DIRS if all((d / name).is_file() for name in SHA256)]
_SUMS = [d.parent / "SHA256SUMS" for d in babi.SHARED_DIRS if (d.parent / "SHA256SUMS").is_file()]


def _shared_files() -> dict[str, bytes]:
    if not _FOUND:
        pytest.skip("the bAbI tasks are not in ../shared/data/babi/en")
    return {name: (_FOUND[0] / name).read_bytes() for name in SHA256}


def _archive(path, files: dict[str, bytes]):
    """A tar.gz laid out as the official one, with members no loader may write."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def add(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = ""):
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.size = kind, link, len(data)
        tar.addfile(info, io.BytesIO(data))

    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        add("tasks_1-20_v1-2/README", b"bAbI")
        add("../qa1_escape_train.txt", b"1 Outside.\n")
        add(MEMBER_DIR + "qa21_link_train.txt", kind=tarfile.SYMTYPE, link="/etc/passwd")
        for name, data in files.items():
            add(MEMBER_DIR + name, data)
    return path


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No data dir, no shared folder, an empty home: only the mirror."""
    monkeypatch.delenv("TFSTACK_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(babi, "SHARED_DIRS", [])
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path


def _cache(isolated):
    return isolated / "home" / ".cache" / "tfstack" / "babi"


def test_a_good_archive_extracts_verifies_and_is_read(isolated, caplog):
    mirror = _archive(isolated / "mirror" / ARCHIVE, _shared_files()).as_uri()
    with caplog.at_level(logging.WARNING, logger="models.qa.babi_download"):
        found = babi.locate_babi(url=mirror)
    assert found == _cache(isolated) / "en"
    assert sorted(os.listdir(found)) == sorted(SHA256)  # no README, link or escapee
    assert os.listdir(_cache(isolated)) == ["en"]  # no archive or temporary folder left
    assert not (isolated / "qa1_escape_train.txt").exists()
    assert [mirror in r.getMessage() for r in caplog.records] == [True]
    examples = babi.load_tasks([1], "test")
    assert len(examples) == 1000 and examples[0].answer == ("hallway",)
    assert babi.locate_babi(url="file:///nonexistent") == found  # the cache, next time


def test_a_truncated_archive_is_a_clear_error_and_leaves_nothing(isolated):
    good = _archive(isolated / "good" / ARCHIVE, _shared_files())
    truncated = isolated / "mirror" / ARCHIVE
    truncated.parent.mkdir()
    truncated.write_bytes(good.read_bytes()[:good.stat().st_size // 2])
    with pytest.raises(DataNotFound, match=f"the download is not a complete {ARCHIVE}"):
        babi.locate_babi(url=truncated.as_uri())
    assert os.listdir(_cache(isolated)) == []


def test_an_altered_file_fails_its_checksum_and_leaves_nothing(isolated):
    files = _shared_files()
    name = "qa1_single-supporting-fact_test.txt"
    files[name] = files[name].replace(b"hallway", b"kitchen", 1)
    mirror = _archive(isolated / "mirror" / ARCHIVE, files).as_uri()
    with pytest.raises(DataNotFound, match=f"{name} in the download has sha256 .* expected "
                                           f"{SHA256[name]}"):
        babi.locate_babi(url=mirror)
    assert os.listdir(_cache(isolated)) == []


def test_offline_the_error_names_the_places_looked_in_and_the_url(isolated):
    explicit, url = isolated / "mine", "file:///nonexistent/" + ARCHIVE
    with pytest.raises(FileNotFoundError) as error:
        babi.locate_babi(explicit, url=url)
    assert str(explicit) in str(error.value) and str(_cache(isolated)) in str(error.value)
    assert url in str(error.value)
    with pytest.raises(FileNotFoundError, match=str(_cache(isolated))):
        babi.locate_babi(download=False)


def test_search_order_ends_with_the_cache(isolated, monkeypatch):
    assert babi.candidate_dirs("x") == [Path("x"), _cache(isolated) / "en"]
    monkeypatch.setenv("TFSTACK_DATA_DIR", str(isolated / "data"))  # also the cache then
    assert babi.candidate_dirs("x") == [Path("x"), isolated / "data" / "babi" / "en"]


def test_the_kept_checksums_are_those_of_the_shared_files():
    if not _SUMS:
        pytest.skip("../shared/data/babi/SHA256SUMS is absent")
    listed = dict(reversed(line.split()) for line in _SUMS[0].read_text().splitlines()
                  if line.strip())
    assert {name.removeprefix("en/"): digest for name, digest in listed.items()} == SHA256
