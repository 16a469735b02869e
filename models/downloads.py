"""Where datasets are looked for, downloading one with a progress bar (landing it only
once complete), and the one error every loader raises when a dataset is nowhere."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
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


class DataNotFound(FileNotFoundError):
    """A dataset found in none of the places searched, nor downloaded: one message with
    each place searched (in order), what the download failed on, and the ways to fix it.

    Args:
        dataset: str. Its name in the message ("Fashion-MNIST").
        wanted: str. The files looked for ("deu.txt or deu-eng.zip").
        searched: the folders or files looked in, in order.
        data_dir: str. Its place under `$TFSTACK_DATA_DIR` ("babi/en").
        folder: Path | None. Where a user may put the files (the download cache).
        flag: str | None. The command-line flag that names them instead ("--data DIR").
        package: str | None. The Debian package that installs it, where one does.
        url: str | None. The download tried, if any.
        error: BaseException | None. What that download failed on (`download_failure`).
        also: further ways to do without it ("leave out --lexicon").
    """

    def __init__(self, dataset: str, wanted: str, searched: Sequence[Path], *,
                 data_dir: str, folder: Path | None = None, flag: str | None = None,
                 package: str | None = None, url: str | None = None,
                 error: BaseException | None = None, also: Sequence[str] = ()):
        self.settings = dict(dataset=dataset, wanted=wanted, searched=list(searched),
                             data_dir=data_dir, folder=folder, flag=flag, package=package,
                             url=url, error=error, also=tuple(also))
        self.searched = list(searched)
        self.failure = download_failure(url, error) if url and error else None
        places = "".join(f"\n  {place}{_state(place)}" for place in self.searched)
        tried = (f"downloading {getattr(error, 'url', None) or url} failed: {self.failure}"
                 if self.failure else "no download was tried")
        fixes = [f"install the Debian package: apt-get install {package}"] if package else []
        fixes += [f"put them in {folder}"] if folder else []
        fixes += [f"name where they are: {flag}"] if flag else []
        fixes += [f"set TFSTACK_DATA_DIR to a folder whose {data_dir}/ holds them", *also]
        super().__init__(f"{dataset} not found: looked for {wanted} in{places}\n{tried}.\n"
                         "To fix it, either\n" + "\n".join(f"  - {fix}" for fix in fixes))

    def but(self, **changes) -> DataNotFound:
        """The same error with some of its settings changed (another flag, more fixes)."""
        return DataNotFound(**{**self.settings, **changes})


def _state(place: Path) -> str:
    """" (absent)" or " (empty)" where that is why a place held nothing; "" otherwise."""
    if not place.exists():
        return " (absent)"
    return " (empty)" if place.is_dir() and not any(place.iterdir()) else ""


def download_failure(url: str, error: BaseException) -> str:
    """What a download of `url` failed on, in a few words: the host and the
    reason (`Name or service not known`, `Connection refused`, `HTTP 404 Not Found`,
    a checksum that differs)."""
    if isinstance(error, urllib.error.HTTPError):
        reason = f"HTTP {error.code} {error.reason}"
    elif isinstance(error, urllib.error.URLError):
        cause = error.reason
        reason = getattr(cause, "strerror", None) or str(cause)
    elif isinstance(error, OSError) and error.strerror:
        reason = error.strerror + (f": {error.filename}" if error.filename else "")
    else:
        reason = str(error) or type(error).__name__
    host = urllib.parse.urlsplit(url).netloc  # with its port; none in a file:// URL
    return f"{host}: {reason}" if host else reason
