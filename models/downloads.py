"""Downloading a dataset file with a progress bar, landing it only once complete."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

from tqdm import tqdm


def cache_dir(dataset: str) -> Path:
    """Where a dataset's download lands: `$TFSTACK_DATA_DIR/DATASET`, else
    `~/.cache/tfstack/DATASET`."""
    root = os.environ.get("TFSTACK_DATA_DIR") or Path.home() / ".cache" / "tfstack"
    return Path(root) / dataset


def search_dirs(dataset: str, path: str | Path | None, shared: list[Path]) -> list[Path]:
    """The folders a dataset is looked for in, in order: `path`,
    `$TFSTACK_DATA_DIR/DATASET`, the `shared` data folders, then the download cache."""
    dirs = [Path(path)] if path else []
    if os.environ.get("TFSTACK_DATA_DIR"):
        dirs.append(Path(os.environ["TFSTACK_DATA_DIR"]) / dataset)
    dirs += [*shared, cache_dir(dataset)]
    return list(dict.fromkeys(dirs))


def download_file(url: str, target: str | Path) -> Path:
    """Fetches `url` (http(s):// or file://) to `target` through a `.part` file, so an
    interrupted download never leaves a half file under the real name."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".part", delete=False) as part:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True,
                          desc=url.rsplit("/", 1)[-1]) as bar:
                    for block in iter(lambda: response.read(1 << 16), b""):
                        part.write(block)
                        bar.update(len(block))
            part.flush()
            os.fsync(part.fileno())
            part.close()
            os.replace(part.name, target)
        finally:
            Path(part.name).unlink(missing_ok=True)
    return target


def sha256_of(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
