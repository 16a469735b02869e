"""`tfstack score` against the real server: order, error rows, exactly-once resume
after kill -9, retries through a server restart, and stopping after too many errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

from clients.scoring.local import ScoreConfig, score
from tests.launcher import ServerProcess, free_port

pytestmark = pytest.mark.fashion


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """1,000 real held-out images as PNGs (label in the name), plus two bad files."""
    from models.vision import fashion_mnist

    folder = tmp_path_factory.mktemp("photos")
    _, (images, labels) = fashion_mnist.load()
    for i in range(1000):
        (folder / f"{i // 100}").mkdir(exist_ok=True)
        name = folder / f"{i // 100}" / f"{i:04d}_{labels[i]}.png"
        Image.fromarray(images[i, :, :, 0]).save(name)
    (folder / "5" / "0500_x_broken.png").write_bytes(b"GIF89a not really")
    (folder / "5" / "0500_y_empty.png").write_bytes(b"")
    return folder


def rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_exactly_once(output, folder) -> list[dict]:
    written = rows(output)
    expected = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    assert [r["id"] for r in written] == expected  # every input, once, in input order
    assert [r["index"] for r in written] == list(range(len(expected)))
    return written


def tfstack_score(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tfstack.command", "score", *args,
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_folder_scores_in_order_with_error_rows(classifier_server, image_folder, tmp_path):
    summary = score(ScoreConfig("classifier", str(image_folder), str(tmp_path / "out.jsonl"),
                                server=classifier_server.target, progress=False))
    written = assert_exactly_once(tmp_path / "out.jsonl", image_folder)
    errors = {r["id"]: r["error"] for r in written if "error" in r}
    assert errors.keys() == {"5/0500_x_broken.png", "5/0500_y_empty.png"}
    assert errors["5/0500_x_broken.png"].startswith("INVALID_ARGUMENT")
    good = [r for r in written if "error" not in r]
    truth = [int(r["id"].split("_")[1].split(".")[0]) for r in good]
    assert np.mean([r["class_ids"][0] == t for r, t in zip(good, truth, strict=True)]) > 0.6
    assert (summary.written, summary.errors, summary.skipped) == (1002, 2, 0)
    assert summary.items_per_second > 0 and summary.percentile_ms(99) > 0


def test_csv_output_from_a_jsonl_list(classifier_server, image_folder, tmp_path):
    listing = tmp_path / "list.jsonl"
    listing.write_text("".join(json.dumps({"id": f"item{i}", "image": str(p)}) + "\n"
                               for i, p in enumerate(sorted(image_folder.rglob("*.png"))[:5])))
    process = tfstack_score("classifier", str(listing), "-o", str(tmp_path / "out.csv"),
                            "--column", "image", "--server", classifier_server.target)
    assert process.wait(120) == 0, process.stderr.read()
    import csv

    table = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert [r["id"] for r in table] == [f"item{i}" for i in range(5)]
    assert all(len(r["labels"].split("|")) == 5 and not r["error"] for r in table)


def test_kill_9_then_resume_gives_every_input_exactly_once(classifier_server, image_folder,
                                                           tmp_path):
    output = tmp_path / "out.jsonl"
    args = ["classifier", str(image_folder), "-o", str(output), "--batch-size", "1",
            "--concurrency", "2", "--server", classifier_server.target]
    first = tfstack_score(*args)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not output.exists() or
                                           output.read_text().count("\n") < 100):
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    done_before = output.read_text().count("\n")
    assert 100 <= done_before < 1002, "the first run was not interrupted mid-way"
    second = tfstack_score(*args, "--resume")
    assert second.wait(300) == 0, second.stderr.read()
    assert f"({done_before} already done)" in second.stderr.read()
    assert_exactly_once(output, image_folder)


def test_run_completes_through_a_server_restart(classifier_repository, image_folder, tmp_path):
    port = free_port()
    serve = ("--model_name=classifier",
             f"--model_base_path={classifier_repository / 'classifier'}", f"--port={port}",
             "--access_log")
    output = tmp_path / "out.jsonl"
    # no drain: during one the first server would still answer, and on a fast machine
    # finish the whole run before the restart
    first = ServerProcess(*serve, "--drain_seconds=0").__enter__()
    result = {}
    config = ScoreConfig("classifier", str(image_folder), str(output),
                         server=f"127.0.0.1:{port}", batch_size=2, concurrency=2, progress=False)
    runner = threading.Thread(target=lambda: result.update(summary=score(config)))
    runner.start()
    while not output.exists() or output.read_text().count("\n") < 50:
        time.sleep(0.02)
    first.stop()
    with ServerProcess(*serve) as second:
        runner.join(300)
    written = assert_exactly_once(output, image_folder)
    assert sum("error" in r for r in written) == 2  # only the two bad files
    assert any("Predict OK" in line for line in second.log)  # the rest came after the restart
    assert result["summary"].written == 1002


def test_stops_after_max_errors(classifier_server, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    for i in range(10):
        (folder / f"{i}.png").write_bytes(b"not a png")
    process = tfstack_score("classifier", str(folder), "-o", str(tmp_path / "out.jsonl"),
                            "--batch-size", "1", "--concurrency", "1", "--max-errors", "2",
                            "--server", classifier_server.target)
    assert process.wait(120) == 1
    assert "stopped early" in process.stderr.read()
    assert 3 <= len(rows(tmp_path / "out.jsonl")) < 10
