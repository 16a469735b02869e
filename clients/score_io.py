"""Batch-scoring files: reading inputs (text, JSONL, CSV/TSV, image folders) and
writing results (JSONL, CSV) in input order, resumable without loss or duplicates."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
INPUT_FORMATS = ("images", "text", "jsonl", "csv", "tsv")
OUTPUT_FORMATS = ("jsonl", "csv")


@dataclass(frozen=True)
class Item:
    """One input: its position, the id its result carries, its value (a file path or
    a text) and, for endpoints with several inputs, the record's fields."""

    index: int
    id: str
    value: str
    fields: dict = field(default_factory=dict, compare=False)


def input_format(path: Path, given: str | None = None) -> str:
    if given:
        return given
    if path.is_dir():
        return "images"
    return {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv"}.get(
        path.suffix.lower(), "text")


def read_items(path: str | Path, fmt: str | None = None, column: str | None = None,
               id_column: str = "id") -> list[Item]:
    """Every input of `path`, in order. `column` names the value's field in JSONL and
    CSV/TSV (default: the only or first one); ids come from `id_column` when present,
    else the line number, or the path relative to an image folder."""
    path = Path(path)
    fmt = input_format(path, fmt)
    if fmt == "images":
        files = sorted(p for p in path.rglob("*")
                       if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        return [Item(i, p.relative_to(path).as_posix(), str(p)) for i, p in enumerate(files)]
    text = path.read_text(encoding="utf-8")
    if fmt == "text":
        return [Item(i, str(i + 1), line) for i, line in enumerate(text.splitlines())]
    if fmt == "jsonl":
        records = [_json_line(line, n + 1, path) for n, line in enumerate(text.splitlines())
                   if line.strip()]
    else:
        records = list(csv.DictReader(io.StringIO(text), delimiter="\t" if fmt == "tsv" else ","))
    return [_item(i, record, column, id_column, path) for i, record in enumerate(records)]


def _json_line(line: str, number: int, path: Path) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{number} is not JSON: {e}") from e
    if not isinstance(record, dict):
        raise ValueError(f"{path}:{number} must be a JSON object")
    return record


def _item(index: int, record: dict, column: str | None, id_column: str, path: Path) -> Item:
    names = [name for name in record if name != id_column]
    key = column or (names[0] if names else None)
    if key not in record:
        raise ValueError(f"{path}: record {index + 1} has no column {key!r} "
                         f"(columns: {', '.join(record)}); choose one with --column")
    return Item(index, str(record.get(id_column, index + 1)), str(record[key]), record)


class ResultWriter:
    """Appends result rows in input order, one whole line per row, so that a run
    stopped at any moment (even kill -9) leaves complete rows behind."""

    def __init__(self, path: str | Path, fields: Sequence[str], fmt: str | None = None,
                 resume: bool = False):
        self.path = Path(path)
        self.fmt = fmt or ("csv" if self.path.suffix.lower() in (".csv", ".tsv") else "jsonl")
        self.fields = ["index", "id", "input", *fields, "error"]
        self.written_ids = self._recover() if resume and self.path.exists() else []
        self._file = self.path.open("a" if self.written_ids else "w", encoding="utf-8",
                                    newline="")
        if self.fmt == "csv" and not self.written_ids:
            self._file.write(self._csv_line(dict(zip(self.fields, self.fields, strict=True))))

    def _recover(self) -> list[str]:
        """The ids already written; a partial last line (a run killed mid-write) is cut."""
        data = self.path.read_bytes()
        complete = data[:data.rfind(b"\n") + 1]
        if len(complete) != len(data):
            with self.path.open("r+b") as stream:
                stream.truncate(len(complete))
        lines = complete.decode("utf-8").splitlines()
        if self.fmt == "csv":
            return [row["id"] for row in csv.DictReader(io.StringIO("\n".join(lines)))]
        return [str(json.loads(line)["id"]) for line in lines if line.strip()]

    def write(self, rows: Sequence[dict]) -> None:
        """Writes rows with one write call and hands them to the operating system."""
        lines = [self._csv_line(row) if self.fmt == "csv" else
                 json.dumps(row, ensure_ascii=False) + "\n" for row in rows]
        self._file.write("".join(lines))
        self._file.flush()

    def _csv_line(self, row: dict) -> str:
        buffer = io.StringIO()
        values = ["|".join(map(str, v)) if isinstance(v, list) else v
                  for v in (row.get(field, "") for field in self.fields)]
        csv.writer(buffer, lineterminator="\n").writerow(values)
        return buffer.getvalue()

    def close(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
