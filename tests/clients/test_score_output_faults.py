"""`tfstack score` when its output fails: a full disk stops the run with one message
instead of a hang, a write cut short leaves only whole rows for `--resume` to go on
from, and `--resume` refuses an output holding a row that is not one of its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clients.scripted_server import ScriptedServer, well_formed_classifier

FILE_SIZE = 1000  # bytes a process may write into one file: about five result rows


def tfstack_score(*args: str, file_size: int | None = None) -> subprocess.CompletedProcess:
    """`tfstack score ARGS`, its files limited to `file_size` bytes if given (a write
    past it fails with EFBIG, as one past a full disk fails with ENOSPC)."""
    limit = (f"resource.setrlimit(resource.RLIMIT_FSIZE, ({file_size}, {file_size})); "
             if file_size else "")
    launch = (f"import resource, runpy, sys; {limit}sys.argv[0] = 'tfstack'; "
              "runpy.run_module('tfstack.command', run_name='__main__')")
    return subprocess.run([sys.executable, "-c", launch, "score", *args, "--no-progress"],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def photos(tmp_path) -> Path:
    """Twelve files for the scripted server, which answers without decoding them."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(12):
        (folder / f"{i:04d}.png").write_bytes(b"an image")
    return folder


def ids(data: bytes) -> list[str]:
    return [json.loads(line)["id"] for line in data.splitlines()]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_stops_the_run_with_one_message_not_a_hang(photos):
    with ScriptedServer(well_formed_classifier) as server:  # /dev/full: every write ENOSPC
        result = tfstack_score("classifier", str(photos), "-o", "/dev/full", "--server",
                               server.target, "--batch-size", "1", "--concurrency", "2")
    assert result.returncode == 1
    assert result.stderr == ("error: cannot write /dev/full: No space left on device; the "
                             "rows before are whole: free space and run again with --resume\n")
    assert server.requests <= 2  # stopped at the first failed write: none after those in flight


def test_a_write_cut_short_leaves_whole_rows_and_resume_completes(photos, tmp_path):
    output = tmp_path / "out.jsonl"
    args = ["classifier", str(photos), "-o", str(output), "--batch-size", "1",
            "--concurrency", "2"]
    with ScriptedServer(well_formed_classifier) as server:
        stopped = tfstack_score(*args, "--server", server.target, file_size=FILE_SIZE)
        left = output.read_bytes()
        resumed = tfstack_score(*args, "--server", server.target, "--resume")
    assert stopped.returncode == 1
    assert stopped.stderr == (f"error: cannot write {output}: File too large; the rows "
                              "before are whole: fix that and run again with --resume\n")
    assert 0 < len(left) <= FILE_SIZE and left.endswith(b"\n")  # the torn row cut off
    expected = sorted(p.name for p in photos.iterdir())
    assert ids(left) == expected[:len(ids(left))]
    assert resumed.returncode == 0, resumed.stderr
    assert ids(output.read_bytes()) == expected  # each input once, in order


@pytest.mark.parametrize("bad", [b'{"index": 1, "input": "0001.png"}', b'["0001.png"]'],
                         ids=["no-id", "list"])
def test_resume_refuses_an_output_row_that_is_not_its_own(photos, tmp_path, bad):
    output = tmp_path / "out.jsonl"
    data = b'{"id": "0000.png"}\n' + bad + b'\n{"id": "0002.png"}\n'
    output.write_bytes(data)
    result = tfstack_score("classifier", str(photos), "-o", str(output), "--resume",
                           "--server", "127.0.0.1:1")  # refused before any call
    assert result.returncode == 2
    assert result.stderr == ('error: out.jsonl line 2: not a JSON object with an "id"; fix '
                             'or remove that line, or start without --resume\n')
    assert output.read_bytes() == data
