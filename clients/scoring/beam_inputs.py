"""The inputs of a Beam scoring run, read through `apache_beam.io.filesystems` (local
paths, and gs:// or s3:// with apache-beam's gcp or aws extra): image folders and
globs, text, JSONL and CSV/TSV files, parsed as the local scorer parses them
(`clients.scoring.files`); and each item's payload, read on the worker that scores it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from clients.scoring import files as score_io
from clients.scoring.files import (
    Item,
    glob_root,
    has_glob,
    image_order,
    is_image,
    parse_items,
    relative_id,
    suffix_format,
)

NAMESPACE = "tfstack"


class UnreadableInput(ValueError):
    """An input that cannot be scored (an empty file, a line that is not JSON); its
    repr is the reason, which is what Beam's dead-letter output keeps of it."""

    def __repr__(self) -> str:
        return str(self)


def input_format(path: str, given: str | None = None) -> str:
    """`given`, else images for a glob, a folder or a prefix ending in "/", else
    the format the file's extension implies."""
    if given:
        return given
    if has_glob(path) or path.endswith("/"):
        return "images"
    if "://" not in path:
        return score_io.input_format(Path(path))
    return suffix_format(path) if FileSystems.match([path])[0].metadata_list else "images"


def read_items(path: str, fmt: str, column: str | None, id_column: str) -> Iterator[Item]:
    """Every input of `path`, in order, numbered as the local scorer numbers them; a
    record that cannot be read is an item with its `error`, not a failed read."""
    inputs = Metrics.counter(NAMESPACE, "inputs")
    for item in _items(path, fmt, column, id_column):
        inputs.inc()
        yield item


def _items(path: str, fmt: str, column: str | None, id_column: str) -> Iterator[Item]:
    if fmt == "images":
        yield from image_items(path)
        return
    with FileSystems.open(path) as stream:
        yield from parse_items(stream, fmt, column, id_column, path, bad_records="row")


def image_items(path: str) -> list[Item]:
    """The images of a folder (recursively) or a glob, sorted by path; ids are the
    paths relative to the folder, or to the glob's fixed part."""
    if has_glob(path):
        root, pattern = glob_root(path), path
    else:
        root = path.rstrip("/")
        pattern = root + "/**"
    [match] = FileSystems.match([pattern])
    files = [(relative_id(m.path, root), m.path) for m in match.metadata_list
             if is_image(m.path)]
    return [Item(i, key, name) for i, (key, name) in enumerate(sorted(files, key=image_order))]


def read_file(path: str) -> bytes:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
        return stream.read()


class Payload:
    """RunInference's preprocessing: an item to (item, payload), its file read here;
    an input that cannot be read raises `UnreadableInput`, for the dead letter."""

    def __init__(self, endpoint):
        self.endpoint = endpoint

    def __call__(self, item: Item) -> tuple[Item, object]:
        if item.error:
            raise UnreadableInput(f"UNREADABLE: {item.error}")
        try:
            return item, self.endpoint.payload(item, read_file)
        except (OSError, ValueError) as e:
            raise UnreadableInput(f"UNREADABLE: {e}") from e
