"""The Tatoeba German-English pairs as released by manythings.org (`deu-eng.zip`).

Search order: an explicit file or folder, `$TFSTACK_DATA_DIR/tatoeba`, the shared data
folder beside the project (`../shared/data/tatoeba`), the download cache, then the
official download; `DataNotFound` when that fails too. The 2018-05-13 release is
recognised by its SHA-256. The official URL is a moving "latest" file with no checksum
to pin, so a newer release (more pairs, a third attribution column) is downloaded within
`BUDGET` and kept only once it passes a sanity check (`check_newer`); it is reported by
its own checksum. Archives are always read within `BUDGET`, streamed.
Licence: CC BY 2.0 France, Tatoeba (tatoeba.org), via manythings.org/anki.
"""

from __future__ import annotations

import io
import logging
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from models.downloads import (
    Budget,
    DataNotFound,
    cache_dir,
    download_file,
    search_dirs,
    sha256_of,
    zip_member,
)

logger = logging.getLogger(__name__)

OFFICIAL_URL = "https://www.manythings.org/anki/deu-eng.zip"  # the latest release
ARCHIVE, MEMBER = "deu-eng.zip", "deu.txt"
RELEASE_2018 = "2018-05-13"
# From ../shared/data/tatoeba/SHA256SUMS: the archive, and deu.txt inside it.
SHA256_2018 = {ARCHIVE: "b7688f84f99fa33c17397c14d8bd9cef1fdeb2ee0bf50074767023aee8926e28",
               MEMBER: "a79c90b3cd3102decffa49cc00fb6f20023974f2ae5c4782515bebe133fcc07b"}
PAIRS_2018 = 169_813
# What an archive may take, downloaded and inflated: the 2018 one is 4.0 MB and its
# deu.txt 12.3 MB (3-fold); newer ones are larger (more pairs, an attribution column).
BUDGET = Budget(download=32 << 20, member=128 << 20, total=129 << 20, ratio=20)
SANE_PAIRS = (100_000, 1_000_000)  # the pairs a newer release may hold
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
           download: bool = True, budget: Budget = BUDGET) -> Path:
    """The pairs file: `path` itself if it is a file, else `deu.txt` or `deu-eng.zip`
    in the first folder holding one, else the archive downloaded from `url` (default
    `OFFICIAL_URL`) into the cache within `budget`; DataNotFound when none is found or
    downloaded."""
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
        _download(url, target, budget)
    except (OSError, ValueError) as e:  # URLError is an OSError
        raise _not_found(searched, url, e) from e
    return target


def _download(url: str, target: Path, budget: Budget) -> None:
    """Downloads the archive beside `target` and lands it there only once it is the
    2018 release (by its SHA-256) or a newer one that passes `check_newer`; nothing is
    left behind otherwise, whatever stops it."""
    staging = target.with_name(f".{ARCHIVE}.{os.getpid()}.download")  # one per process
    try:
        download_file(url, staging, budget.download)
        digest = sha256_of(staging)
        if digest != SHA256_2018[ARCHIVE]:
            pairs = check_newer(_archive_lines(staging, budget))
            logger.warning(
                "%s from %s is not the %s release (sha256 %s): accepted as a newer release, "
                "having passed the size budgets (%d bytes; %s within %d bytes and %d-fold) "
                "and the sanity check (%d pairs, each English<TAB>German)", ARCHIVE, url,
                RELEASE_2018, digest, staging.stat().st_size, MEMBER, budget.member,
                budget.ratio, pairs)
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)


def check_newer(lines: list[str]) -> int:
    """The number of pairs of a release that is not the 2018 one, once it looks like the
    corpus: ValueError unless it holds `SANE_PAIRS` pairs, each line English<TAB>German
    (a third column, the attribution, allowed)."""
    low, high = SANE_PAIRS
    if not low <= len(lines) <= high:
        raise ValueError(f"{MEMBER} holds {len(lines):,} pairs, not the {low:,} to {high:,} "
                         "of a release of the Tatoeba German-English pairs: refused as not "
                         "that corpus")
    for number, line in enumerate(lines, 1):
        columns = line.split("\t")
        if not (2 <= len(columns) <= 3 and columns[0].strip() and columns[1].strip()):
            raise ValueError(f"line {number} of {MEMBER} is not English<TAB>German "
                             f"({line[:60]!r}): refused as not the Tatoeba pairs")
    return len(lines)


def _not_found(searched: list[Path], url: str | None = None,
               error: BaseException | None = None) -> DataNotFound:
    return DataNotFound("The Tatoeba pairs", f"{MEMBER} or {ARCHIVE}", searched,
                        data_dir=DATASET, folder=cache_dir(DATASET), flag="--data FILE",
                        url=url, error=error)


def _archive_lines(archive: Path, budget: Budget) -> list[str]:
    """The lines of `deu.txt` in `archive`, streamed within `budget`; ValueError for an
    archive that is truncated, holds no `deu.txt` or is over `budget` (DownloadRefused)."""
    try:
        with zipfile.ZipFile(archive) as opened, \
                zip_member(opened, MEMBER, budget, ARCHIVE) as stream:
            return _split(io.TextIOWrapper(stream, encoding="utf-8"))
    except (zipfile.BadZipFile, KeyError, EOFError, zlib.error, OSError) as e:
        raise ValueError(f"not a complete {ARCHIVE} ({e})") from e


def _split(text: TextIO) -> list[str]:
    """The non-blank lines of a text stream, read line by line (split as str.splitlines
    splits); ValueError for bytes that are not UTF-8."""
    try:
        return [part for line in text for part in line.splitlines() if part.strip()]
    except UnicodeDecodeError as e:
        raise ValueError(f"{MEMBER} is not UTF-8 text ({e.reason})") from e


def read_lines(path: str | Path, budget: Budget = BUDGET) -> tuple[list[str], TatoebaRelease]:
    """The pair lines of `deu.txt` or of the archive holding it (read within `budget`),
    with the release they come from; ValueError for an archive that is truncated, over
    its budget or holds no `deu.txt`."""
    path = Path(path)
    digest = sha256_of(path)
    if path.suffix == ".zip":
        try:
            lines = _archive_lines(path, budget)
        except ValueError as e:
            raise ValueError(f"{path}: {e}; delete it to download it again, or pass "
                             f"{MEMBER} with --data") from e
    else:
        with open(path, encoding="utf-8") as text:
            lines = _split(text)
    known = SHA256_2018[ARCHIVE if path.suffix == ".zip" else MEMBER]
    release = TatoebaRelease(str(path), digest, RELEASE_2018 if digest == known else "newer",
                             len(lines))
    if release.release != RELEASE_2018:
        logger.warning("%s is not the %s release (sha256 %s, %d pairs): accepted as a newer "
                       "release", path, RELEASE_2018, digest, len(lines))
    return lines, release
