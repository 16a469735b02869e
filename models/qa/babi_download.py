"""Downloading the bAbI v1.2 archive and keeping only its verified English 1k tasks.

Only the regular files `tasks_1-20_v1-2/en/qaN_<name>_{train,test}.txt` named in
`babi_checksums.SHA256` are read from the archive (no other path can be written, so no
path traversal); they are written to a temporary folder beside the target, each checked
against its SHA-256, and the folder is renamed to the target only once all 40 verify. The
archive is read within `BUDGET`: its download, each file (declared and counted) and the
whole tar stream it inflates to. A failure leaves nothing under the target's name.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path

from models.downloads import Budget, DownloadRefused, bounded, download_file, sha256_of
from models.qa.babi_checksums import SHA256

logger = logging.getLogger(__name__)

# The official archive as Keras fetches it (its first home, thespermwhale.com, is http only).
OFFICIAL_URL = "https://s3.amazonaws.com/text-datasets/babi_tasks_1-20_v1-2.tar.gz"
ARCHIVE = "tasks_1-20_v1-2.tar.gz"
MEMBER_DIR = "tasks_1-20_v1-2/en/"
# The archive is some 12 MB; it inflates to six folders (en, hn and shuffled, 1k and 10k
# each), en/ 5.8 MB of them; the largest en/ file is 0.5 MB.
BUDGET = Budget(download=32 << 20, member=4 << 20, total=512 << 20)


def download_babi(target: str | Path, url: str | None = None, budget: Budget = BUDGET) -> Path:
    """Downloads the archive from `url` (default `OFFICIAL_URL`), extracts and verifies
    the en/ task files and renames them into `target`: OSError when the download fails,
    ValueError when the archive is incomplete, over `budget` or a file's checksum differs."""
    target, url = Path(target), url or OFFICIAL_URL
    if target.exists() and any(target.iterdir()):
        raise ValueError(f"{target} exists but holds no complete bAbI tasks; delete it to "
                         f"download them again from {url}")
    logger.warning("downloading the bAbI tasks from %s (the en/ files) to %s", url, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".babi-download-") as work:
        archive = Path(work) / ARCHIVE
        download_file(url, archive, budget.download)
        staging = Path(work) / "en"
        extract_tasks(archive, staging, label="the download", budget=budget)
        try:
            os.replace(staging, target)  # onto an empty folder, or none
        except OSError:
            if not any(target.glob("qa*_train.txt")):  # not another process's download
                raise
    return target


def extract_tasks(archive: str | Path, folder: str | Path, label: str | None = None,
                  budget: Budget = BUDGET) -> None:
    """Writes the archive's en/ task files into `folder`, each checked against its
    SHA-256; ValueError for a truncated or corrupt archive or a missing file,
    DownloadRefused (a ValueError) for an archive or a file over `budget` or a checksum
    that differs. `label` names the archive in errors."""
    folder, label = Path(folder), label or str(archive)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        written = _extract(archive, folder, label, budget)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise ValueError(f"{label} is not a complete {ARCHIVE} ({e})") from e
    _verify(folder, written, label)


def _extract(archive: str | Path, folder: Path, label: str, budget: Budget) -> set[str]:
    """Streams the tar stream (at most `budget.total` bytes inflated, pax headers and
    skipped members included) and writes its en/ task files, each within `budget.member`
    declared and counted; the names written."""
    written = set()
    with gzip.open(archive, "rb") as inflated, tarfile.open(
            fileobj=bounded(inflated, budget.total, f"{label} inflated"), mode="r|") as tar:
        for member in tar:  # to the end, so a truncated archive never passes
            path = member.name.removeprefix("./")
            name = path.removeprefix(MEMBER_DIR)
            if path != MEMBER_DIR + name or name not in SHA256:
                continue  # only the en/ task files, by their exact names
            if not member.isreg():
                raise ValueError(f"{member.name} in {label} is not a regular file")
            what = f"{member.name} in {label}"
            budget.check(what, member.size, budget.member)
            with tar.extractfile(member) as source, open(folder / name, "wb") as out:
                shutil.copyfileobj(bounded(source, budget.member, what), out)
            written.add(name)
    return written


def _verify(folder: Path, written: set[str], label: str) -> None:
    """ValueError unless all 40 files were written, DownloadRefused unless each has its
    SHA-256."""
    missing = sorted(set(SHA256) - written)
    if missing:
        raise ValueError(f"{label} lacks {len(missing)} of the {len(SHA256)} files of "
                         f"{MEMBER_DIR} (first: {missing[0]}); it is not the bAbI v1.2 "
                         "release")
    for name in sorted(written):
        digest = sha256_of(folder / name)
        if digest != SHA256[name]:
            raise DownloadRefused(f"{MEMBER_DIR}{name} in {label} has sha256 {digest}, "
                                  f"expected {SHA256[name]} (bAbI v1.2): the archive is "
                                  "corrupt or of another release")
