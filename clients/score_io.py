"""Batch-scoring files: reading inputs (text, JSONL, CSV/TSV, image folders) and
writing results (JSONL, CSV) in input order, resumable without loss or duplicates.

Records are parsed from binary streams, one line ending at b"\\n" only (U+2028,
U+0085 and a newline inside a quoted CSV field are data), so that the local scorer
and the Beam pipeline (which opens the same files through Beam's filesystems) read
the same inputs, and result rows are formatted here for both.
"""

from __future__ import annotations

import csv
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


class ResultWriter:
    """Appends result rows in input order, one whole line per row, so that a run
    stopped at any moment (even kill -9) leaves complete rows behind."""

    def __init__(self, path: str | Path, fields: Sequence[str], fmt: str | None = None,
                 resume: bool = False):
        self.path = Path(path)
        self.fmt = fmt or ("csv" if self.path.suffix.lower() in (".csv", ".tsv") else "jsonl")
        self.fields = row_fields(fields)
        self.written_ids = self._recover() if resume and self.path.exists() else []
        self._file = self.path.open("a" if self.written_ids else "w", encoding="utf-8",
                                    newline="")
        if self.fmt == "csv" and not self.written_ids:
            self._file.write(csv_line(dict(zip(self.fields, self.fields, strict=True)),
                                      self.fields))

    def _recover(self) -> list[str]:
        """The ids already written; a partial last row (a run killed mid-write) is cut."""
        data = self.path.read_bytes()
        end, ids = _complete_csv(data) if self.fmt == "csv" else _complete_jsonl(data)
        if end != len(data):
            with self.path.open("r+b") as stream:
                stream.truncate(end)
        return ids

    def write(self, rows: Sequence[dict]) -> None:
        """Writes rows with one write call and hands them to the operating system."""
        lines = [csv_line(row, self.fields) if self.fmt == "csv" else json_line(row) + "\n"
                 for row in rows]
        self._file.write("".join(lines))
        self._file.flush()

    def close(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()


def _complete_jsonl(data: bytes) -> tuple[int, list[str]]:
    """Where the last whole line ends, and the ids of the lines before it."""
    end = data.rfind(b"\n") + 1
    return end, [str(json.loads(line)["id"]) for line in data[:end].split(b"\n")
                 if line.strip()]


def _complete_csv(data: bytes) -> tuple[int, list[str]]:
    """Where the last whole CSV record ends (not inside a quoted field that a kill cut
    short, newlines included), and the ids of the records before it."""
    ends, consumed = [], 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        for raw in io.BytesIO(data[:data.rfind(b"\n") + 1]):
            consumed += len(raw)
            yield raw.decode("utf-8")

    records = []
    try:
        for record in csv.reader(lines(), strict=True):
            records.append(record)
            ends.append(consumed)
    except csv.Error:
        pass  # the cut record: everything up to the one before it stands
    if not records:
        return 0, []
    column = records[0].index("id")
    return ends[-1], [record[column] for record in records[1:]]
