"""Where datasets are looked for, downloading one with a progress bar (landing it only
once complete, and only within its byte budget), reading archive members within theirs,
and the one error every loader raises when a dataset is nowhere."""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

CHUNK = 1 << 16  # bytes read and written at a time
SMALL = 1 << 20  # a member this small may inflate however it likes: too small to harm


@dataclass(frozen=True)
class Budget:
    """How big a source may be, so an endless download or an archive bomb is refused
    before it fills the disk or the memory; each named source sets its own, a bit above
    its real size.

    Args:
        download: int. Bytes the download may take.
        member: int. Bytes one member may inflate to (an archive member, the content of a
            .gz file), counted as it is read, whatever its header declares.
        total: int. Bytes an archive may inflate to, all its members together.
        ratio: int. How many times its compressed size a member (from 1 MiB) may inflate to.
    """

    download: int = 256 << 20
    member: int = 256 << 20
    total: int = 1 << 30
    ratio: int = 100

    def check(self, what: str, size: int, limit: int, compressed: int | None = None) -> None:
        """DownloadRefused when `what`, declared `size` bytes, is over `limit`, or when it
        inflates from `compressed` bytes more than `ratio` times (an archive bomb)."""
        if size > limit:
            raise DownloadRefused(f"{what} declares {size:,} bytes, over its budget of "
                                  f"{limit:,}: refused unread (not the release expected, "
                                  "or an archive bomb)")
        if compressed is not None and size > max(SMALL, self.ratio * compressed):
            raise DownloadRefused(f"{what} would inflate {size / max(compressed, 1):,.0f}-fold "
                                  f"({compressed:,} to {size:,} bytes), more than the "
                                  f"{self.ratio}-fold a real release does: refused unread as "
                                  "an archive bomb")


class DownloadRefused(ValueError):
    """A download or an archive member refused for its size or its content (over its
    budget, an archive bomb, a checksum that differs); the message says which and why."""


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


def download_file(url: str, target: str | Path, max_bytes: int = Budget.download) -> Path:
    """Fetches `url` (http(s):// or file://) to `target` through a `.part` file, at most
    `max_bytes` of it, so no failure (an error, an interrupt, a source over its budget:
    DownloadRefused; a source that breaks off: ConnectionError) leaves a half file under
    the real name, nor the `.part`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.",
                                       suffix=".part", delete=False)
    try:
        with part:
            _fetch(url, part, max_bytes, _file_name(url, target))
        os.replace(part.name, target)
    finally:
        Path(part.name).unlink(missing_ok=True)
    return target


def _fetch(url: str, sink: BinaryIO, max_bytes: int, what: str) -> None:
    """Streams `url` into `sink` with a progress bar: refused unread when it announces
    more than `max_bytes`, cut off past them, a ConnectionError when it gives fewer bytes
    than it announced (http.client lets that pass silently) or breaks off mid-answer."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            announced = _content_length(response)
            if announced is not None and announced > max_bytes:
                raise DownloadRefused(f"{what} announces {announced:,} bytes, over its budget "
                                      f"of {max_bytes:,}: refused unread (not the file "
                                      "expected, or a hostile source)")
            with tqdm.wrapattr(bounded(response, max_bytes, what), "read", total=announced,
                               desc=what) as source:
                shutil.copyfileobj(source, sink, CHUNK)
    except http.client.HTTPException as e:  # IncompleteRead of a chunked answer, garbage
        raise ConnectionError(f"{what} broke off or came malformed ({e!r}); try again") from e
    if announced is not None and sink.tell() != announced:
        raise ConnectionError(f"{what} broke off after {sink.tell():,} of its {announced:,} "
                              "bytes; try again")
    sink.flush()
    os.fsync(sink.fileno())


def _file_name(url: str, target: Path) -> str:
    """The file a URL names (its last path part), for messages; else the target's name."""
    return urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1] or target.name


def _content_length(response) -> int | None:
    """The size a response announces, or None where it announces none (or nonsense)."""
    try:
        size = int(response.headers.get("Content-Length") or "")
    except ValueError:
        return None
    return size if size >= 0 else None


class _Bounded(io.RawIOBase):
    """A stream that stops with DownloadRefused once `limit` bytes came out of `source`
    and there are more: it never reads more than `limit` + 1 of them."""

    def __init__(self, source: BinaryIO, limit: int, what: str):
        super().__init__()
        self._source, self._limit, self._what, self._count = source, limit, what, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._source.read(min(len(buffer), self._limit + 1 - self._count))
        self._count += len(data)
        if self._count > self._limit:
            raise DownloadRefused(f"{self._what} went past its budget of {self._limit:,} "
                                  "bytes: cut off there (not the file expected, an endless "
                                  "source or an archive bomb)")
        buffer[:len(data)] = data
        return len(data)


def bounded(source: BinaryIO, limit: int, what: str) -> BinaryIO:
    """`source` read through a counter: DownloadRefused as soon as it gives more than
    `limit` bytes, whatever it declared (`what` names it in the message)."""
    return io.BufferedReader(_Bounded(source, limit, what), CHUNK)


def zip_member(archive: zipfile.ZipFile, name: str, budget: Budget, label: str) -> BinaryIO:
    """`name` in `archive`, opened to be streamed within `budget`: DownloadRefused,
    unread, when the archive declares more than `budget.total` or the member more than
    `budget.member` or too high a ratio; KeyError when it holds no `name`."""
    info, what = archive.getinfo(name), f"{name} in {label}"
    budget.check(what, info.file_size, budget.member, info.compress_size)
    budget.check(f"{label} (all members)", sum(i.file_size for i in archive.infolist()),
                 budget.total)
    return bounded(archive.open(info), budget.member, what)


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
