"""Reading scoring inputs and writing results: formats, order, recovery after a run
was killed mid-line, refusing to resume an output that is not ours, and a failed
write (a full disk) as one error."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from clients.scoring.files import OutputFailed, ResultWriter, read_items


def test_text_lines_are_items_numbered_from_one(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("a.png\nb.png\n\nc.png\n")
    items = read_items(path)
    assert [(i.index, i.id, i.value) for i in items] == [
        (0, "1", "a.png"), (1, "2", "b.png"), (2, "3", ""), (3, "4", "c.png")]


def test_jsonl_and_csv_take_named_columns(tmp_path):
    (tmp_path / "in.jsonl").write_text('{"id": "x1", "path": "a.png"}\n\n{"path": "b.png"}\n')
    assert [(i.id, i.value) for i in read_items(tmp_path / "in.jsonl")] == [
        ("x1", "a.png"), ("2", "b.png")]
    (tmp_path / "in.tsv").write_text("key\tfile\tnote\nk1\ta.png\thi\n")
    [item] = read_items(tmp_path / "in.tsv", column="file", id_column="key")
    assert (item.id, item.value) == ("k1", "a.png")
    with pytest.raises(ValueError, match="no column 'image'"):
        read_items(tmp_path / "in.tsv", column="image")


def test_bad_jsonl_line_is_reported_with_its_number(tmp_path):
    (tmp_path / "in.jsonl").write_text('{"path": "a"}\n{oops\n')
    with pytest.raises(ValueError, match="in.jsonl:2 is not JSON"):
        read_items(tmp_path / "in.jsonl")


def test_image_folder_is_recursive_sorted_and_filtered(tmp_path):
    for name in ("b/2.png", "a.JPG", "b/1.gif", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert [i.id for i in read_items(tmp_path)] == ["a.JPG", "b/1.gif", "b/2.png"]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_resume_cuts_a_partial_last_line_and_reports_written_ids(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    writer = ResultWriter(path, ["labels"])
    writer.write([{"index": 0, "id": "a", "input": "a.png", "labels": ["x", "y"]},
                  {"index": 1, "id": "b", "input": "b.png", "error": "INVALID_ARGUMENT: no"}])
    writer.close()
    with path.open("a") as stream:
        stream.write('{"index": 2, "id": "c", "inp' if suffix == ".jsonl" else "2,c,c.pn")
    resumed = ResultWriter(path, ["labels"], resume=True)
    assert resumed.written_ids == ["a", "b"]
    resumed.write([{"index": 2, "id": "c", "input": "c.png", "labels": ["z"]}])
    resumed.close()
    if suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        assert [r["id"] for r in rows] == ["a", "b", "c"]
        assert rows[0]["labels"] == ["x", "y"] and rows[1]["error"].startswith("INVALID")
    else:
        rows = list(csv.DictReader(path.open()))
        assert [r["id"] for r in rows] == ["a", "b", "c"]
        assert rows[0]["labels"] == "x|y" and rows[1]["error"] == "INVALID_ARGUMENT: no"


def test_without_resume_the_output_starts_over(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": "old"}\n')
    writer = ResultWriter(path, [])
    assert writer.written_ids == []
    writer.close()
    assert path.read_text() == ""


ODD = "eins\u2028zwei\u0085drei\u2029vier\x1cfünf"  # line breaks to str.splitlines, not to JSONL


def test_inputs_end_at_newlines_only(tmp_path):
    (tmp_path / "in.txt").write_bytes(f"{ODD}\nzwei\r\n\nletzte".encode())
    assert [i.value for i in read_items(tmp_path / "in.txt")] == [ODD, "zwei", "", "letzte"]
    (tmp_path / "in.jsonl").write_text(json.dumps({"text": ODD}, ensure_ascii=False) + "\n"
                                       + json.dumps({"text": "b"}) + "\n", encoding="utf-8")
    assert [i.value for i in read_items(tmp_path / "in.jsonl")] == [ODD, "b"]
    (tmp_path / "in.csv").write_bytes(f'id,text\r\nk1,"zeile eins\r\n{ODD}"\r\nk2,b\r\n'.encode())
    assert [(i.id, i.value) for i in read_items(tmp_path / "in.csv")] == [
        ("k1", f"zeile eins\r\n{ODD}"), ("k2", "b")]


def test_bad_records_can_become_items_with_their_error(tmp_path):
    from clients.scoring.files import parse_items

    with (tmp_path / "in.jsonl").open("w+b") as stream:
        stream.write(b'{"text": "a"}\n{oops\n[1]\n{"other": 1}\n')
        stream.seek(0)
        items = list(parse_items(stream, "jsonl", "text", name="in.jsonl", bad_records="row"))
    assert [(i.index, i.value, i.error is None) for i in items] == [
        (0, "a", True), (1, "{oops", False), (2, "[1]", False), (3, '{"other": 1}', False)]
    assert items[1].error.startswith("in.jsonl:2 is not JSON")
    assert items[2].error == "in.jsonl:3 must be a JSON object"
    assert "has no column 'text'" in items[3].error


def test_jsonl_resume_reads_rows_holding_unicode_line_breaks(tmp_path):
    path = tmp_path / "out.jsonl"
    writer = ResultWriter(path, ["translation"])
    writer.write([{"index": 0, "id": "a", "input": ODD, "translation": ODD},
                  {"index": 1, "id": "b", "input": "x", "translation": "y"}])
    writer.close()
    assert "\u2028" in path.read_text(encoding="utf-8")  # json.dumps writes it raw
    resumed = ResultWriter(path, ["translation"], resume=True)
    assert resumed.written_ids == ["a", "b"]
    resumed.close()


def test_csv_resume_cuts_a_record_killed_inside_a_quoted_newline(tmp_path):
    path = tmp_path / "out.csv"
    writer = ResultWriter(path, ["labels"])
    writer.write([{"index": 0, "id": "a", "input": "line one\nline two", "labels": ["x"]},
                  {"index": 1, "id": "b", "input": ODD, "labels": ["y"]}])
    writer.close()
    with path.open("a", encoding="utf-8", newline="") as stream:
        stream.write('2,c,"first line\n')  # killed inside the quoted field, after its newline
    resumed = ResultWriter(path, ["labels"], resume=True)
    assert resumed.written_ids == ["a", "b"]
    resumed.write([{"index": 2, "id": "c", "input": "first line\nsecond", "labels": ["z"]}])
    resumed.close()
    table = list(csv.DictReader(path.open(encoding="utf-8", newline="")))
    assert [(r["id"], r["input"]) for r in table] == [
        ("a", "line one\nline two"), ("b", ODD), ("c", "first line\nsecond")]


def test_an_image_glob_takes_ids_relative_to_its_fixed_part(tmp_path):
    for name in ("photos/a/1.png", "photos/a/2.txt", "photos/b/3.PNG", "photos/b/c/4.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert [i.id for i in read_items(f"{tmp_path}/photos/*/*.*")] == ["a/1.png", "b/3.PNG"]
    assert [i.id for i in read_items(f"{tmp_path}/photos/**/*.png")] == [
        "a/1.png", "b/c/4.png"]


@pytest.mark.parametrize("bad", [b'{"index": 1, "input": "b.png"}', b'["b", "b.png"]',
                                 b'{"id": "b", oops', b'{"id": "\xff"}', b'"b"'],
                         ids=["no-id", "list", "not-json", "not-utf8", "string"])
def test_jsonl_resume_names_the_line_of_a_row_that_is_not_ours(tmp_path, bad):
    path = tmp_path / "out.jsonl"
    data = b'{"id": "a"}\n\n' + bad + b'\n{"id": "c"}\n'
    path.write_bytes(data)
    with pytest.raises(ValueError) as refused:
        ResultWriter(path, ["labels"], resume=True)
    assert str(refused.value) == ('out.jsonl line 3: not a JSON object with an "id"; fix or '
                                  'remove that line, or start without --resume')
    assert path.read_bytes() == data  # left as it was


@pytest.mark.parametrize(("data", "fault"), [
    (b"index,key,input,labels,error\n0,a,a.png,x,\n", 'line 1: a header without an "id" column'),
    (b"index,id,input,labels,error\n0,a,a.png,x,\n1,b\n", "line 3: 2 fields where the "
                                                          "header has 5"),
    (b'index,id,input,labels,error\n0,a,"a\n.png",x,\n1,\xff,b.png,y,\n',
     "line 4: not UTF-8 text"),
    (b'index,id,input,labels,error\n0,a,"a"x,y,\n1,b,b.png,y,\n', 'line 2: not CSV '
                                                                  '(\',\' expected after \'"\')'),
], ids=["no-id-column", "short-row", "not-utf8", "not-csv"])
def test_csv_resume_names_the_line_of_a_record_that_is_not_ours(tmp_path, data, fault):
    path = tmp_path / "out.csv"
    path.write_bytes(data)
    with pytest.raises(ValueError) as refused:
        ResultWriter(path, ["labels"], resume=True)
    assert str(refused.value) == (f"out.csv {fault}; fix or remove that line, or start "
                                  "without --resume")
    assert path.read_bytes() == data


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_write_to_a_full_disk_is_one_error_and_the_writer_still_closes():
    writer = ResultWriter("/dev/full", ["labels"], fmt="jsonl")  # every write: ENOSPC
    with pytest.raises(OutputFailed) as failed:
        writer.write([{"index": 0, "id": "a", "input": "a.png", "labels": ["x"]}])
    assert str(failed.value) == ("cannot write /dev/full: No space left on device; the rows "
                                 "before are whole: free space and run again with --resume")
    writer.close()  # no second error for the rows that never reached the disk
