"""Each named source within its budgets: https, a budget a bit above its real files, and
the faults found by an outside attack refused with one clear message and nothing left
behind (a zip, gzip or tar bomb, a "newer release" that is not the corpus, a checksum
that differs). Sources here are local: file:// mirrors and a loopback HTTP server."""

from __future__ import annotations

import functools
import gzip
import http.server
import io
import logging
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from models.downloads import Budget, DataNotFound, DownloadRefused, cache_dir
from models.qa import babi, babi_download
from models.translation import tatoeba
from models.vision import fashion_mnist
from tests.models.test_downloads import serving

SMALL = Budget(download=1 << 20, member=1 << 20, total=1 << 20, ratio=20)


def test_every_source_is_https():
    for module in (fashion_mnist, babi_download, tatoeba):
        assert module.OFFICIAL_URL.startswith("https://"), module.__name__


def test_the_real_files_are_within_their_budgets():
    """The budgets refuse no real release: each real file is under its own."""
    found = 0
    for name, budget in fashion_mnist.BUDGETS.items():
        path = fashion_mnist.SYSTEM_DIR / name
        if path.is_file():
            found += 1
            assert path.stat().st_size <= budget.download
            assert len(gzip.decompress(path.read_bytes())) <= budget.member
    for folder in (d for d in tatoeba.SHARED_DIRS if (d / tatoeba.ARCHIVE).is_file()):
        found += 1
        assert (folder / tatoeba.ARCHIVE).stat().st_size <= tatoeba.BUDGET.download
        with zipfile.ZipFile(folder / tatoeba.ARCHIVE) as archive:
            info = archive.getinfo(tatoeba.MEMBER)
        assert info.file_size <= tatoeba.BUDGET.member
        assert info.file_size <= tatoeba.BUDGET.ratio * info.compress_size
    for folder in (d for d in babi.SHARED_DIRS if d.is_dir()):
        found += 1
        assert max(p.stat().st_size for p in folder.iterdir()) <= babi_download.BUDGET.member
    if not found:
        pytest.skip("none of the real files is on this machine")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A data dir (the download cache) with nothing in it, and no shared folders."""
    monkeypatch.setenv("TFSTACK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(tatoeba, "SHARED_DIRS", [])
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "absent")
    return tmp_path


def _tatoeba_mirror(folder: Path, text: bytes) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / tatoeba.ARCHIVE, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(tatoeba.MEMBER, text)
    return (folder / tatoeba.ARCHIVE).as_uri()


def _left_in(folder: Path) -> list[str]:
    return sorted(os.listdir(folder)) if folder.exists() else []


def test_a_tatoeba_zip_bomb_is_refused_unread_and_leaves_nothing(isolated):
    mirror = _tatoeba_mirror(isolated / "mirror", bytes(4 << 20))  # a few KB, 4 MiB inflated
    with pytest.raises(DataNotFound, match=r"deu.txt in deu-eng.zip declares 4,194,304 bytes, "
                                           r"over its budget of 1,048,576: refused unread"):
        tatoeba.locate(url=mirror, budget=SMALL)
    assert _left_in(cache_dir(tatoeba.DATASET)) == []
    with pytest.raises(ValueError, match="delete it to download it again"):
        tatoeba.read_lines(isolated / "mirror" / tatoeba.ARCHIVE, budget=SMALL)


def test_a_tatoeba_archive_inflating_hundreds_fold_is_refused_by_default(isolated):
    mirror = _tatoeba_mirror(isolated / "mirror", b"Go.\tGeh.\n" * (512 << 10))  # 4.5 MiB
    with pytest.raises(DataNotFound, match=r"deu.txt in deu-eng.zip would inflate [\d,]+-fold "
                                           r".* more than the 20-fold a real release does"):
        tatoeba.locate(url=mirror)
    assert _left_in(cache_dir(tatoeba.DATASET)) == []


def _pairs(count: int) -> bytes:
    return "".join(f"Sentence {n}.\tSatz {n}.\tCC-BY 2.0 (France) Attribution: tatoeba.org "
                   f"#{n}\n" for n in range(count)).encode()


def test_a_newer_tatoeba_release_lands_once_it_passes_the_sanity_check(isolated, monkeypatch,
                                                                       caplog):
    monkeypatch.setattr(tatoeba, "SANE_PAIRS", (3, 5))  # the real range needs 100,000 pairs
    mirror = _tatoeba_mirror(isolated / "mirror", _pairs(4))
    with caplog.at_level(logging.WARNING, logger="models.translation.tatoeba"):
        found = tatoeba.locate(url=mirror)
    assert found == cache_dir(tatoeba.DATASET) / tatoeba.ARCHIVE
    assert _left_in(found.parent) == [tatoeba.ARCHIVE]
    said = " ".join(record.getMessage() for record in caplog.records)
    assert "accepted as a newer release, having passed the size budgets" in said
    assert "the sanity check (4 pairs, each English<TAB>German)" in said
    assert tatoeba.read_lines(found)[1].pairs == 4


@pytest.mark.parametrize("text, says", [
    (_pairs(6), "deu.txt holds 6 pairs, not the 3 to 5 of a release of the Tatoeba "
                "German-English pairs: refused as not that corpus"),
    (_pairs(3) + b"no tab here\n", "line 4 of deu.txt is not English<TAB>German "
                                   "('no tab here'): refused as not the Tatoeba pairs"),
    (_pairs(3) + b"\xff\xfe\n", "deu.txt is not UTF-8 text (invalid start byte)"),
])
def test_a_tatoeba_download_that_is_not_the_corpus_is_refused(isolated, monkeypatch,
                                                              text, says):
    monkeypatch.setattr(tatoeba, "SANE_PAIRS", (3, 5))
    mirror = _tatoeba_mirror(isolated / "mirror", text)
    with pytest.raises(DataNotFound) as error:
        tatoeba.locate(url=mirror)
    assert f"downloading {mirror} failed: {says}.\n" in str(error.value)
    assert _left_in(cache_dir(tatoeba.DATASET)) == []


def _fashion_mirror(folder: Path, data: bytes) -> str:
    """A mirror whose first file (the training images) holds `data`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / fashion_mnist.FILES["train_images"][0]).write_bytes(data)
    return folder.as_uri()


def test_a_fashion_mnist_gzip_bomb_is_cut_while_counted_and_leaves_nothing(isolated):
    mirror = _fashion_mirror(isolated / "mirror", gzip.compress(bytes(4 << 20)))
    budgets = dict.fromkeys(fashion_mnist.BUDGETS, SMALL)
    with pytest.raises(DownloadRefused, match=r"^train-images-idx3-ubyte.gz decompressed went "
                                              r"past its budget of 1,048,576 bytes"):
        fashion_mnist.download(isolated / "out", mirror, budgets)
    assert _left_in(isolated / "out") == []


def test_a_fashion_mnist_file_over_its_default_budget_is_refused_unread(isolated):
    name = fashion_mnist.FILES["train_images"][0]
    mirror = _fashion_mirror(isolated / "mirror", b"")
    os.truncate(isolated / "mirror" / name, 40 << 20)  # sparse: nothing is written
    with pytest.raises(DataNotFound, match=f"{name} announces 41,943,040 bytes, over its "
                                           "budget of 33,554,432: refused unread"):
        fashion_mnist.locate(download_to=isolated / "out", url=mirror)
    assert _left_in(isolated / "out") == []


def test_a_fashion_mnist_checksum_mismatch_over_http_is_refused(isolated):
    _fashion_mirror(isolated / "mirror", gzip.compress(b"not Fashion-MNIST"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(isolated / "mirror"))
    handler.log_message = lambda *args: None
    name, sha256 = fashion_mnist.FILES["train_images"]
    with serving(handler) as url, pytest.raises(DataNotFound) as error:
        fashion_mnist.locate(download_to=isolated / "out", url=url)
    assert (f"downloading {url} failed: {url.removeprefix('http://')}: checksum mismatch for "
            f"{name}: expected sha256 {sha256} of the decompressed file, got ") in str(error.value)
    assert _left_in(isolated / "out") == []


def _babi_mirror(folder: Path, members: dict[str, bytes]) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / babi_download.ARCHIVE, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return (folder / babi_download.ARCHIVE).as_uri()


@pytest.mark.parametrize("members, says", [
    ({"tasks_1-20_v1-2/en-10k/qa1_big_train.txt": bytes(4 << 20)},  # skipped, yet inflated
     r"^the download inflated went past its budget of 1,048,576 bytes: cut off there"),
    ({babi_download.MEMBER_DIR + "qa1_single-supporting-fact_train.txt": bytes(512 << 10)},
     r"^tasks_1-20_v1-2/en/qa1_single-supporting-fact_train.txt in the download declares "
     r"524,288 bytes, over its budget of 65,536: refused unread"),
])
def test_a_babi_tar_bomb_is_refused_and_leaves_nothing(tmp_path, members, says):
    mirror = _babi_mirror(tmp_path / "mirror", members)
    budget = Budget(download=1 << 20, member=64 << 10, total=1 << 20)
    with pytest.raises(DownloadRefused, match=says):
        babi_download.download_babi(tmp_path / "cache" / "en", mirror, budget)
    assert _left_in(tmp_path / "cache") == []
