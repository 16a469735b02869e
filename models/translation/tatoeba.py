"""The Tatoeba German-English pairs as released by manythings.org (`deu-eng.zip`).

Search order: an explicit file or folder, `$TFSTACK_DATA_DIR/tatoeba`, the shared data
folder beside the project (`../shared/data/tatoeba`), the download cache, then the
official download; `DataNotFound` when that fails too. The 2018-05-13 release is
recognised by its SHA-256; a newer release (more pairs, a third attribution column) is
accepted and reported by its own checksum.
Licence: CC BY 2.0 France, Tatoeba (tatoeba.org), via manythings.org/anki.
"""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

from models.downloads import DataNotFound, cache_dir, download_file, search_dirs, sha256_of

logger = logging.getLogger(__name__)

OFFICIAL_URL = "https://www.manythings.org/anki/deu-eng.zip"
ARCHIVE, MEMBER = "deu-eng.zip", "deu.txt"
RELEASE_2018 = "2018-05-13"
# From ../shared/data/tatoeba/SHA256SUMS: the archive, and deu.txt inside it.
SHA256_2018 = {ARCHIVE: "b7688f84f99fa33c17397c14d8bd9cef1fdeb2ee0bf50074767023aee8926e28",
               MEMBER: "a79c90b3cd3102decffa49cc00fb6f20023974f2ae5c4782515bebe133fcc07b"}
PAIRS_2018 = 169_813
# The shared data folder beside the project (and beside the working directory).
DATASET = "tatoeba"  # under $TFSTACK_DATA_DIR and the download cache
SHARED_DIRS = [Path(__file__).resolve().parents[3] / "shared" / "data" / "tatoeba",
               Path.cwd().parent / "shared" / "data" / "tatoeba"]


@dataclass(frozen=True)
class TatoebaRelease:
    """Which file was read: its path, SHA-256, release (2018-05-13 or `newer`) and
    number of pair lines."""

    path: str
    sha256: str
    release: str
    pairs: int


def candidate_dirs(path: str | Path | None = None) -> list[Path]:
    """The folders searched for `deu-eng.zip` or `deu.txt`, in order."""
    return search_dirs(DATASET, path, SHARED_DIRS)


def locate(path: str | Path | None = None, url: str | None = None,
           download: bool = True) -> Path:
    """The pairs file: `path` itself if it is a file, else `deu.txt` or `deu-eng.zip`
    in the first folder holding one, else the archive downloaded from `url` (default
    `OFFICIAL_URL`) into the cache; DataNotFound when none is found or downloaded."""
    if path and Path(path).is_file():
        return Path(path)
    searched = candidate_dirs(path)
    for folder in searched:
        for name in (MEMBER, ARCHIVE):
            if (folder / name).is_file():
                return folder / name
    if not download:
        raise _not_found(searched)
    url, target = url or OFFICIAL_URL, cache_dir(DATASET) / ARCHIVE
    logger.warning("downloading the Tatoeba pairs from %s to %s", url, target)
    try:
        download_file(url, target)
        _member(target)  # ValueError unless a complete archive
    except (OSError, ValueError) as e:  # URLError is an OSError
        target.unlink(missing_ok=True)
        raise _not_found(searched, url, e) from e
    return target


def _not_found(searched: list[Path], url: str | None = None,
               error: BaseException | None = None) -> DataNotFound:
    return DataNotFound("The Tatoeba pairs", f"{MEMBER} or {ARCHIVE}", searched,
                        data_dir=DATASET, folder=cache_dir(DATASET), flag="--data FILE",
                        url=url, error=error)


def _member(archive: Path) -> bytes:
    """The bytes of `deu.txt` in `archive`; ValueError for an archive that is truncated
    or holds no `deu.txt`."""
    try:
        with zipfile.ZipFile(archive) as opened:
            return opened.read(MEMBER)
    except (zipfile.BadZipFile, KeyError, EOFError, OSError) as e:
        raise ValueError(f"not a complete {ARCHIVE} ({e})") from e


def read_lines(path: str | Path) -> tuple[list[str], TatoebaRelease]:
    """The pair lines of `deu.txt` or of the archive holding it, with the release they
    come from; ValueError for an archive that is truncated or holds no `deu.txt`."""
    path = Path(path)
    digest = sha256_of(path)
    if path.suffix == ".zip":
        try:
            raw = _member(path)
        except ValueError as e:
            raise ValueError(f"{path} is {e}; delete it to download it again, or pass "
                             f"{MEMBER} with --data") from e
    else:
        raw = path.read_bytes()
    lines = [line for line in io.StringIO(raw.decode("utf-8")).read().splitlines()
             if line.strip()]
    known = SHA256_2018[ARCHIVE if path.suffix == ".zip" else MEMBER]
    release = TatoebaRelease(str(path), digest, RELEASE_2018 if digest == known else "newer",
                             len(lines))
    if release.release != RELEASE_2018:
        logger.warning("%s is not the %s release (sha256 %s, %d pairs): accepted as a newer "
                       "release", path, RELEASE_2018, digest, len(lines))
    return lines, release

