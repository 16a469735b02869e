"""Locating, downloading and loading the official Fashion-MNIST IDX files.

Search order: an explicit directory, `$TFSTACK_DATA_DIR/fashion-mnist`, the
Debian package `dataset-fashion-mnist`, the download cache, then the official
download over https (checked against the SHA-256 of each file's decompressed content, so
a re-compressed mirror still verifies; each file within its byte budget, downloaded and
decompressed, so an endless source or a gzip bomb is cut off); `DataNotFound` when that
fails too.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import zlib
from pathlib import Path

import numpy as np

from models.downloads import (
    Budget,
    DataNotFound,
    DownloadRefused,
    bounded,
    cache_dir,
    download_file,
    search_dirs,
)
from models.vision.idx import read_idx

logger = logging.getLogger(__name__)

CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
# The official files as Keras fetches them (the official S3 website serves plain http only).
OFFICIAL_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
DATASET = "fashion-mnist"  # under $TFSTACK_DATA_DIR and the download cache
FILES = {
    "train_images": ("train-images-idx3-ubyte.gz",
                     "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train_labels": ("train-labels-idx1-ubyte.gz",
                     "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "test_images": ("t10k-images-idx3-ubyte.gz",
                    "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz",
                    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}
# Bytes each file may take, downloaded and decompressed: a bit above the official files
# (26,421,880 and 47,040,016 bytes for the training images).
BUDGETS = {
    "train-images-idx3-ubyte.gz": Budget(download=32 << 20, member=48 << 20),
    "train-labels-idx1-ubyte.gz": Budget(download=64 << 10, member=64 << 10),
    "t10k-images-idx3-ubyte.gz": Budget(download=8 << 20, member=8 << 20),
    "t10k-labels-idx1-ubyte.gz": Budget(download=16 << 10, member=16 << 10),
}


def candidate_dirs(path: str | Path | None = None) -> list[Path]:
    """The directories searched for the four files, in order."""
    return search_dirs(DATASET, path, [SYSTEM_DIR])


def locate(path: str | Path | None = None, download_to: str | Path | None = None,
           url: str | None = None) -> Path:
    """The first directory holding all four files, else the one they are downloaded
    into from `url` (default `OFFICIAL_URL`); DataNotFound when the download fails."""
    searched = candidate_dirs(path)
    for directory in searched:
        if all((directory / name).is_file() for name, _ in FILES.values()):
            return directory
    url, target = url or OFFICIAL_URL, Path(download_to or path or cache_dir(DATASET))
    logger.info("downloading Fashion-MNIST from %s to %s", url, target)
    try:
        download(target, url)
    except (OSError, ValueError) as e:  # URLError is an OSError; ValueError: checksum, size
        raise DataNotFound(
            "Fashion-MNIST", "the four IDX files (" + ", ".join(n for n, _ in FILES.values())
            + ")", searched, data_dir=DATASET, folder=cache_dir(DATASET),
            flag="--source FOLDER", package="dataset-fashion-mnist", url=url, error=e) from e
    return target


def download(directory: str | Path, url: str | None = None,
             budgets: dict[str, Budget] | None = None) -> None:
    """Downloads the four files into `directory`, each within its budget (`BUDGETS`
    by file name) and verified before it lands."""
    directory, budgets = Path(directory), budgets or BUDGETS
    directory.mkdir(parents=True, exist_ok=True)
    base = (url or OFFICIAL_URL).rstrip("/")
    for name, sha256 in FILES.values():
        if (directory / name).is_file():
            continue
        fetched = download_file(f"{base}/{name}", directory / f"{name}.download",
                                budgets[name].download)
        try:
            verify(fetched, sha256, name, budgets[name].member)
            os.replace(fetched, directory / name)
        finally:
            fetched.unlink(missing_ok=True)


def verify(path: Path, sha256: str, name: str, max_bytes: int | None = None) -> None:
    """DownloadRefused if the decompressed content of `path` does not hash to `sha256` or
    is more than `max_bytes` (default: its budget); ValueError if it is not gzip."""
    max_bytes = max_bytes or BUDGETS[name].member
    try:
        with gzip.open(path, "rb") as stream:
            digest = hashlib.file_digest(bounded(stream, max_bytes, f"{name} decompressed"),
                                         "sha256")
    except (OSError, EOFError, zlib.error) as e:  # not gzip, or cut short
        raise ValueError(f"{name} is not a complete gzip file ({e})") from e
    if digest.hexdigest() != sha256:
        raise DownloadRefused(
            f"checksum mismatch for {name}: expected sha256 {sha256} of the decompressed "
            f"file, got {digest.hexdigest()}; the download is corrupt or not Fashion-MNIST"
        )


def load(path: str | Path | None = None) -> tuple[tuple[np.ndarray, np.ndarray],
                                                   tuple[np.ndarray, np.ndarray]]:
    """Returns `((train_images, train_labels), (test_images, test_labels))`,
    images as uint8 `(n, 28, 28, 1)` and labels as int64 `(n,)`."""
    directory = locate(path)
    arrays = {key: read_idx(directory / name) for key, (name, _) in FILES.items()}
    return (
        (arrays["train_images"][..., None], arrays["train_labels"].astype(np.int64)),
        (arrays["test_images"][..., None], arrays["test_labels"].astype(np.int64)),
    )

