"""Batch-scoring files: reading inputs (text, JSONL, CSV/TSV, image folders) and
writing results (JSONL, CSV) in input order, resumable without loss or duplicates.

Records are parsed from binary streams, one line ending at b"\\n" only (U+2028,
U+0085 and a newline inside a quoted CSV field are data), so that the local scorer
and the Beam pipeline (which opens the same files through Beam's filesystems) read
the same inputs, and result rows are formatted here for both.
"""

from __future__ import annotations

import csv
import errno
import glob
import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
INPUT_FORMATS = ("images", "text", "jsonl", "csv", "tsv")
OUTPUT_FORMATS = ("jsonl", "csv")
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Item:
    """One input: its position, the id its result carries, its value (a file path or
    a text), for endpoints with several inputs the record's fields, and `error` when
    the record itself could not be read (a line that is not JSON)."""

    index: int
    id: str
    value: str
    fields: dict = field(default_factory=dict, compare=False)
    error: str | None = None


def suffix_format(name: str) -> str:
    """The input format a file name's extension implies (default: text lines)."""
    return {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv"}.get(
        PurePosixPath(name).suffix.lower(), "text")


def has_glob(path: str) -> bool:
    return bool(_GLOB.search(path))


def glob_root(pattern: str) -> str:
    """The folder ids of a glob's images are relative to: its part before the
    first wildcard, up to the last "/"."""
    return pattern[:_GLOB.search(pattern).start()].rpartition("/")[0]


def relative_id(name: str, root: str) -> str:
    return name[len(root):].lstrip("/") if root and name.startswith(root) else name


def input_format(path: Path, given: str | None = None) -> str:
    if given:
        return given
    return "images" if path.is_dir() or has_glob(str(path)) else suffix_format(path.name)


def is_image(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_EXTENSIONS


def image_order(pair: tuple[str, str]) -> tuple[str, ...]:
    """Images are scored in the order of their relative paths, folder by folder."""
    return tuple(pair[0].split("/"))


def read_items(path: str | Path, fmt: str | None = None, column: str | None = None,
               id_column: str = "id") -> list[Item]:
    """Every input of `path`, in order. `column` names the value's field in JSONL and
    CSV/TSV (default: the only or first one); ids come from `id_column` when present,
    else the line number, or the path relative to an image folder."""
    path = Path(path)
    fmt = input_format(path, fmt)
    if fmt == "images":
        if has_glob(str(path)):
            root = glob_root(path.as_posix())
            found = (Path(name) for name in glob.glob(path.as_posix(), recursive=True))
            files = [(relative_id(p.as_posix(), root), str(p)) for p in found
                     if p.is_file() and is_image(p.name)]
        else:
            files = [(p.relative_to(path).as_posix(), str(p)) for p in path.rglob("*")
                     if p.is_file() and is_image(p.name)]
        return [Item(i, key, name) for i, (key, name) in enumerate(sorted(files, key=image_order))]
    with path.open("rb") as stream:
        return list(parse_items(stream, fmt, column, id_column, str(path)))


def parse_items(stream: BinaryIO, fmt: str, column: str | None = None, id_column: str = "id",
                name: str = "<input>", bad_records: str = "raise") -> Iterator[Item]:
    """The items of a text, JSONL, CSV or TSV stream, in order. A record that cannot
    be read (not JSON, no such column) raises ValueError, or with `bad_records="row"`
    becomes an item whose `error` says why, so that it gets an error row."""
    if fmt == "text":
        for i, line in enumerate(_lines(stream)):
            yield Item(i, str(i + 1), line)
        return
    if fmt == "jsonl":
        records = _json_records(stream, name)
    else:
        lines = (raw.decode("utf-8") for raw in iter(stream.readline, b""))
        records = ((json_line(r), r)
                   for r in csv.DictReader(lines, delimiter="\t" if fmt == "tsv" else ","))
    for index, (text, record) in enumerate(records):
        try:
            if isinstance(record, ValueError):
                raise record
            yield _item(index, record, column, id_column, name)
        except ValueError as e:
            if bad_records != "row":
                raise
            yield Item(index, str(index + 1), text, error=str(e))


def _lines(stream: BinaryIO) -> Iterator[str]:
    """Lines ending at b"\\n" (a final "\\r" dropped), decoded."""
    for raw in iter(stream.readline, b""):
        yield raw.rstrip(b"\n").removesuffix(b"\r").decode("utf-8")


def _json_records(stream: BinaryIO, name: str) -> Iterator[tuple[str, dict | ValueError]]:
    for number, line in enumerate(_lines(stream), 1):
        if line.strip():
            yield line, _json_line(line, number, name)


def _json_line(line: str, number: int, name: str) -> dict | ValueError:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        return ValueError(f"{name}:{number} is not JSON: {e}")
    if not isinstance(record, dict):
        return ValueError(f"{name}:{number} must be a JSON object")
    return record


def _item(index: int, record: dict, column: str | None, id_column: str, name: str) -> Item:
    names = [key for key in record if key != id_column]
    key = column or (names[0] if names else None)
    if key not in record:
        raise ValueError(f"{name}: record {index + 1} has no column {key!r} "
                         f"(columns: {', '.join(map(str, record))}); choose one with --column")
    return Item(index, str(record.get(id_column, index + 1)), str(record[key]), record)


def result_row(item: Item, **result) -> dict:
    """An output row: the input's index, id and value, then its result fields or `error`."""
    return {"index": item.index, "id": item.id, "input": item.value, **result}


def row_fields(result_fields: Iterable[str]) -> list[str]:
    """The columns of an output row, in order."""
    return ["index", "id", "input", *result_fields, "error"]


def json_line(row: dict) -> str:
    """A row as one line of JSON (no newline at the end; none inside)."""
    return json.dumps(row, ensure_ascii=False)


def csv_line(row: dict, fields: Sequence[str]) -> str:
    """A row as one CSV record ending in "\\n"; lists are joined with "|"."""
    buffer = io.StringIO()
    values = ["|".join(map(str, v)) if isinstance(v, list) else v
              for v in (row.get(name, "") for name in fields)]
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


class OutputFailed(OSError):
    """Writing the results failed (a full disk, a quota): the rows before the failed one
    are whole, and the same command with `--resume` continues once the cause is gone."""


class ResultWriter:
    """Appends result rows in input order, one whole line per row, so that a run
    stopped at any moment (even kill -9) leaves complete rows behind. A write that
    fails (a full disk) is cut back off, so that no torn row stays behind either."""

    def __init__(self, path: str | Path, fields: Sequence[str], fmt: str | None = None,
                 resume: bool = False):
        self.path = Path(path)
        self.fmt = fmt or ("csv" if self.path.suffix.lower() in (".csv", ".tsv") else "jsonl")
        self.fields = row_fields(fields)
        self.written_ids = self._recover() if resume and self.path.exists() else []
        self._file = self.path.open("ab" if self.written_ids else "wb", buffering=0)
        self._end = self._file.seek(0, os.SEEK_END)  # where the last whole row ends
        self._failed = False
        if self.fmt == "csv" and not self.written_ids:
            try:
                self._append(csv_line(dict(zip(self.fields, self.fields, strict=True)),
                                      self.fields))
            except OutputFailed:
                self._file.close()
                raise

    def _recover(self) -> list[str]:
        """The ids already written; a partial last row (a run killed mid-write) is cut.
        A row that is not one of ours is a ValueError naming its line."""
        data = self.path.read_bytes()
        end, ids = (_complete_csv(data, self.path.name) if self.fmt == "csv"
                    else _complete_jsonl(data, self.path.name))
        if end != len(data):
            with self.path.open("r+b") as stream:
                stream.truncate(end)
        return ids

    def write(self, rows: Sequence[dict]) -> None:
        """Writes rows with one write call and hands them to the operating system;
        `OutputFailed` when they cannot be written whole."""
        lines = [csv_line(row, self.fields) if self.fmt == "csv" else json_line(row) + "\n"
                 for row in rows]
        self._append("".join(lines))

    def _append(self, text: str) -> None:
        """Appends `text` whole, or cuts off what got written of it and raises."""
        data = memoryview(text.encode("utf-8"))
        try:
            while data:
                data = data[self._file.write(data):]
        except OSError as e:
            self._failed = True
            self._cut()
            raise OutputFailed(_cannot_write(self.path, e)) from e
        self._end = self._file.seek(0, os.SEEK_CUR)

    def _cut(self) -> None:
        """Drops a torn row; a device that cannot be cut (/dev/full) keeps it, and
        `--resume` drops it then."""
        try:
            os.ftruncate(self._file.fileno(), self._end)
        except OSError:
            pass

    def close(self) -> None:
        """Hands the rows to the disk and closes (after a failed write, only closes)."""
        try:
            if not self._failed:
                _sync(self._file, self.path)
        finally:
            self._file.close()


def _sync(file, path: Path) -> None:
    try:
        os.fsync(file.fileno())
    except OSError as e:
        if e.errno != errno.EINVAL:  # EINVAL: a device that keeps nothing (/dev/null)
            raise OutputFailed(_cannot_write(path, e)) from e


def _cannot_write(path: Path, error: OSError) -> str:
    """One line: what failed, and that `--resume` continues once it is fixed."""
    fix = "free space" if error.errno in (errno.ENOSPC, errno.EDQUOT) else "fix that"
    return (f"cannot write {path}: {error.strerror or error}; the rows before are whole: "
            f"{fix} and run again with --resume")


def _unresumable(name: str, number: int, what: str) -> str:
    return f"{name} line {number}: {what}; fix or remove that line, or start without --resume"


def _complete_jsonl(data: bytes, name: str) -> tuple[int, list[str]]:
    """Where the last whole line ends, and the ids of the lines before it."""
    end = data.rfind(b"\n") + 1
    return end, [_row_id(line, number, name)
                 for number, line in enumerate(data[:end].split(b"\n"), 1) if line.strip()]


def _row_id(line: bytes, number: int, name: str) -> str:
    try:
        row = json.loads(line)
    except ValueError:  # not JSON, or not UTF-8
        row = None
    if not isinstance(row, dict) or "id" not in row:
        raise ValueError(_unresumable(name, number, 'not a JSON object with an "id"'))
    return str(row["id"])


def _complete_csv(data: bytes, name: str) -> tuple[int, list[str]]:
    """Where the last whole CSV record ends (not inside a quoted field that a kill cut
    short, newlines included), and the ids of the records before it."""
    records = _csv_records(data[:data.rfind(b"\n") + 1], name)
    if not records:
        return 0, []
    _, _, header = records[0]
    if "id" not in header:
        raise ValueError(_unresumable(name, 1, 'a header without an "id" column'))
    for number, _, record in records[1:]:
        if len(record) != len(header):
            raise ValueError(_unresumable(
                name, number, f"{len(record)} fields where the header has {len(header)}"))
    column = header.index("id")
    return records[-1][1], [record[column] for _, _, record in records[1:]]


def _csv_records(data: bytes, name: str) -> list[tuple[int, int, list[str]]]:
    """Each whole, non-empty record: its first line's number, the offset it ends at,
    its fields. A record a kill cut inside a quoted field, and all after it, are left."""
    consumed = 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        for number, raw in enumerate(io.BytesIO(data), 1):
            consumed += len(raw)
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(_unresumable(name, number, "not UTF-8 text")) from None

    reader = csv.reader(lines(), strict=True)
    records, first = [], 1
    try:
        for record in reader:
            if record:
                records.append((first, consumed, record))
            first = reader.line_num + 1
    except csv.Error as e:
        if consumed < len(data):  # not at the end, so not a record a kill cut short
            raise ValueError(_unresumable(name, first, f"not CSV ({e})")) from e
    return records  # up to the cut record, if any
