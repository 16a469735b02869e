"""Finding, downloading and checking the Tatoeba pairs, against local `file://` mirrors
(nothing is downloaded from the internet in tests)."""

from __future__ import annotations

import zipfile

import pytest

from models.downloads import DataNotFound
from models.translation import tatoeba
from models.translation.corpus import load_corpus

_FOUND = [d / tatoeba.ARCHIVE for d in tatoeba.SHARED_DIRS if (d / tatoeba.ARCHIVE).is_file()]


def _shared_archive():
    if not _FOUND:
        pytest.skip("the Tatoeba archive is not in ../shared/data/tatoeba")
    return _FOUND[0]


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No data dir, no shared folder, an empty download cache: only the mirror."""
    monkeypatch.setenv("TFSTACK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(tatoeba, "SHARED_DIRS", [])
    return tmp_path


def test_the_2018_release_is_recognised_by_its_checksum():
    lines, release = tatoeba.read_lines(_shared_archive())
    assert release.release == tatoeba.RELEASE_2018
    assert release.sha256 == tatoeba.SHA256_2018[tatoeba.ARCHIVE]
    assert release.pairs == len(lines) == tatoeba.PAIRS_2018
    assert lines[0].split("\t")[:2] == ["Hi.", "Hallo!"]


def test_download_from_a_mirror_lands_verified_in_the_cache(isolated):
    mirror = _shared_archive().as_uri()
    found = tatoeba.locate(url=mirror)
    assert found == isolated / "data" / "tatoeba" / tatoeba.ARCHIVE
    assert tatoeba.read_lines(found)[1].release == tatoeba.RELEASE_2018
    assert tatoeba.locate(url="file:///nonexistent") == found  # the cache is used next time


def test_a_truncated_archive_is_a_clear_error_and_is_not_kept(isolated):
    truncated = isolated / "mirror" / tatoeba.ARCHIVE
    truncated.parent.mkdir()
    truncated.write_bytes(_shared_archive().read_bytes()[:200_000])
    with pytest.raises(DataNotFound, match="failed: not a complete deu-eng.zip"):
        tatoeba.locate(url=truncated.as_uri())
    assert not (isolated / "data" / "tatoeba" / tatoeba.ARCHIVE).exists()


def test_nothing_found_and_no_download_says_where_it_looked(isolated):
    with pytest.raises(FileNotFoundError, match=str(isolated / "data" / "tatoeba")):
        tatoeba.locate(download=False)


def test_a_newer_release_with_attributions_is_accepted_and_reported(tmp_path):
    archive = tmp_path / tatoeba.ARCHIVE
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr(tatoeba.MEMBER, "Go.\tGeh.\tCC-BY 2.0 (France) Attribution: tatoeba\n"
                                     "Hi.\tHallo!\tCC-BY 2.0 (France) Attribution: tatoeba\n")
    pairs, release = load_corpus(archive)
    assert release.release == "newer" and release.pairs == 2
    assert release.sha256 != tatoeba.SHA256_2018[tatoeba.ARCHIVE]
    assert [(p.source, p.target) for p in pairs] == [("Geh.", "Go."), ("Hallo!", "Hi.")]
