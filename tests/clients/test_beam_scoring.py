"""`tfstack score --runner DirectRunner`: the Beam pipeline against the real server on
tiny models of the three endpoints, and with the SavedModel in the workers; every
input exactly once through a server kill and restart, with two worker processes.

Needs the `beam` extra (apache-beam); without it these tests are skipped."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.launcher import ServerProcess, free_port
from tfstack.command import main as tfstack

needs_beam = pytest.mark.skipif(importlib.util.find_spec("apache_beam") is None,
                                reason="needs Apache Beam: pip install -e '.[beam]'")


def with_real_models(test):
    """Beam, and the real data the tiny models train on."""
    for mark in (needs_beam, pytest.mark.fashion, pytest.mark.babi, pytest.mark.trans):
        test = mark(test)
    return test


STORY = "Mary moved to the bathroom.\nJohn went to the hallway.\n"


@pytest.fixture(scope="module")
def repository(classifier_repository, qa_repository, translator_repository, tmp_path_factory):
    """A model repository of the three endpoints: the session's exports, linked (the
    pipeline's plumbing is under test here, not the models)."""
    repository = tmp_path_factory.mktemp("beam_models") / "repository"
    repository.mkdir()
    for source, model in ((classifier_repository, "classifier"), (qa_repository, "qa"),
                          (translator_repository, "translator")):
        (repository / model).symlink_to(source / model, target_is_directory=True)
    return repository


def serve_flags(repository, models=("classifier", "qa", "translator")) -> tuple[str, ...]:
    config = repository / f"{'-'.join(models)}.config"
    config.write_text("model_config_list {\n" + "".join(
        f'  config {{ name: "{m}" base_path: "{repository / m}" model_platform: "tensorflow" }}\n'
        for m in models) + "}\n")
    return (f"--model_config_file={config}",)


@pytest.fixture(scope="module")
def server(repository):
    with ServerProcess(*serve_flags(repository)) as server:
        yield server


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Real held-out images in two folders, an undecodable one and an empty one."""
    from models.vision import fashion_mnist

    folder = tmp_path_factory.mktemp("beam_photos")
    _, (images, _) = fashion_mnist.load()
    for i in range(300):
        (folder / f"{i % 2}").mkdir(exist_ok=True)
        Image.fromarray(images[i, :, :, 0]).save(folder / f"{i % 2}" / f"{i:04d}.png")
    (folder / "1" / "0007_broken.png").write_bytes(b"GIF89a not really")
    (folder / "0009_empty.png").write_bytes(b"")
    return folder


def rows(*paths) -> list[dict]:
    return [json.loads(line) for path in paths for line in path.read_bytes().split(b"\n")
            if line]


def beam_score(*args: str) -> int:
    return tfstack(["score", *args, "--runner", "DirectRunner", "--no-progress"])


@with_real_models
def test_classifier_rows_match_the_local_scorer(server, photos, tmp_path, capsys):
    from clients.scoring.local import ScoreConfig, score

    assert beam_score("classifier", str(photos), "-o", str(tmp_path / "beam.jsonl"),
                      "--num-shards", "1", "--batch-size", "32", "--server", server.target) == 0
    assert "302 inputs = 300 result rows + 2 error rows" in capsys.readouterr().err
    score(ScoreConfig("classifier", str(photos), str(tmp_path / "local.jsonl"),
                      server=server.target, progress=False))
    beam, local = rows(tmp_path / "beam.jsonl"), rows(tmp_path / "local.jsonl")
    assert [(r["index"], r["id"], r["input"], r.get("error")) for r in beam] == [
        (r["index"], r["id"], r["input"], r.get("error")) for r in local]  # in input order
    assert list(beam[0]) == list(local[0]) == ["index", "id", "input", "labels", "scores",
                                               "class_ids"]
    same = sum(b.get("class_ids") == x.get("class_ids") for b, x in zip(beam, local, strict=True))
    assert same >= 0.95 * len(beam)  # other batches, same answers (near-ties aside)
    errors = {r["id"]: r["error"] for r in beam if "error" in r}
    assert set(errors) == {"0009_empty.png", "1/0007_broken.png"}
    assert errors["0009_empty.png"] == f"UNREADABLE: {photos / '0009_empty.png'} is empty"
    assert errors["1/0007_broken.png"].startswith("INVALID_ARGUMENT")


@with_real_models
def test_qa_records_and_bad_lines_into_csv_shards(server, tmp_path, capsys):
    import csv

    questions = tmp_path / "questions.jsonl"
    questions.write_text("\n".join([
        json.dumps({"id": "q1", "story": STORY, "question": "Where is Mary?"}),
        "{oops",
        json.dumps({"id": "q3", "story": STORY.splitlines(), "question": "Where is John?"}),
        json.dumps({"id": "q4", "question": "Where is Sandra?"})]) + "\n")
    assert beam_score("qa", str(questions), "-o", str(tmp_path / "answers.csv"),
                      "--num-shards", "2", "--server", server.target) == 0
    assert "4 inputs = 2 result rows + 2 error rows" in capsys.readouterr().err
    shards = sorted(tmp_path.glob("answers.csv-*"))
    assert [p.name for p in shards] == ["answers.csv-00000-of-00002",
                                        "answers.csv-00001-of-00002"]
    table = sorted((row for p in shards for row in csv.DictReader(p.open(newline=""))),
                   key=lambda row: int(row["index"]))
    assert list(table[0]) == ["index", "id", "input", "answer", "probability", "supporting",
                              "error"]
    assert [r["id"] for r in table] == ["q1", "2", "q3", "q4"]
    assert table[0]["answer"] and not table[0]["error"] and table[2]["answer"]
    assert table[1]["error"].startswith(f"UNREADABLE: {questions}:2 is not JSON")
    assert table[3]["error"] == "UNREADABLE: record has no story field"


@with_real_models
def test_translator_sentences_through_the_server_and_in_the_workers(server, repository,
                                                                   tmp_path):
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("Wo ist der Bahnhof?\nIch bin müde.\nzwei\u2028zeilen?\n",
                         encoding="utf-8")
    assert beam_score("translator", str(sentences), "-o", str(tmp_path / "served.jsonl"),
                      "--num-shards", "1", "--server", server.target) == 0
    assert beam_score("translator", str(sentences), "-o", str(tmp_path / "loaded.jsonl"),
                      "--num-shards", "1", "--model-path",
                      str(repository / "translator" / "1")) == 0
    served, loaded = rows(tmp_path / "served.jsonl"), rows(tmp_path / "loaded.jsonl")
    assert [r["input"] for r in served] == ["Wo ist der Bahnhof?", "Ich bin müde.",
                                            "zwei\u2028zeilen?"]
    assert [r["translation"] for r in served] == [r["translation"] for r in loaded]
    assert all(r["score"] <= 0 and "error" not in r for r in served + loaded)


@with_real_models
def test_saved_model_in_the_workers_refuses_only_the_bad_image(repository, photos, tmp_path):
    assert beam_score("classifier", str(photos), "-o", str(tmp_path / "out.jsonl"),
                      "--num-shards", "1", "--model-path",
                      str(repository / "classifier" / "1")) == 0
    written = rows(tmp_path / "out.jsonl")
    errors = {r["id"]: r["error"] for r in written if "error" in r}
    assert len(written) == 302 and set(errors) == {"0009_empty.png", "1/0007_broken.png"}
    assert errors["1/0007_broken.png"].startswith("INVALID_ARGUMENT: Invalid GIF data")


@with_real_models
def test_every_input_exactly_once_through_a_server_kill_and_restart(repository, photos,
                                                                     tmp_path):
    port = free_port()
    serve = (*serve_flags(repository, ("classifier",)), f"--port={port}", "--access_log")
    output = tmp_path / "out.jsonl"
    # A Beam worker's call fails at once while the server is down: 40 retries back off
    # for about two minutes on average, past a slow restart on a loaded machine and
    # gRPC's own reconnect backoff (28 s behind a 40 s outage, measured)
    first = ServerProcess(*serve).__enter__()
    run = subprocess.Popen(
        [sys.executable, "-m", "tfstack.command", "score", "classifier", str(photos), "-o",
         str(output), "--runner", "DirectRunner", "--server", f"127.0.0.1:{port}",
         "--batch-size", "4", "--retries", "40", "--direct_num_workers=2",
         "--direct_running_mode=multi_processing"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and sum("Predict OK" in x for x in first.log) < 10:
            time.sleep(0.02)
        first.process.kill()  # mid-run: the workers' calls fail until the new server is up
        first.stop()
        assert run.poll() is None, "the pipeline ended before the server was killed"
        with ServerProcess(*serve) as second:
            assert run.wait(300) == 0, run.stderr.read()[-3000:]
    finally:
        run.kill()
    message = run.stderr.read()
    assert "302 inputs = 300 result rows + 2 error rows" in message, message[-3000:]
    assert " 0 retries" not in message  # the outage was retried, not skipped
    assert "sdk harness starting" not in message  # the workers' INFO lines stay quiet
    assert any("Predict OK" in line for line in second.log)
    written = rows(*tmp_path.glob("out.jsonl-*-of-*"))
    expected = sorted(p.relative_to(photos).as_posix() for p in photos.rglob("*.png"))
    assert sorted(r["id"] for r in written) == expected  # each input exactly once
    assert sorted(r["index"] for r in written) == list(range(302))
    errors = {r["id"]: r["error"] for r in written if "error" in r}
    assert set(errors) == {"0009_empty.png", "1/0007_broken.png"}


def test_pipeline_options_need_a_runner(tmp_path, capsys):
    (tmp_path / "in.txt").write_text("hallo\n")
    args = ["score", "translator", str(tmp_path / "in.txt"), "-o", str(tmp_path / "o.jsonl")]
    assert tfstack([*args, "--direct_num_workers=2"]) == 2
    assert "--direct_num_workers=2: Beam pipeline options need --runner" in capsys.readouterr().err
    assert tfstack([*args, "--model-path", str(tmp_path)]) == 2
    assert "--model-path: Beam pipeline options need --runner" in capsys.readouterr().err


@needs_beam
def test_beam_lists_folders_and_globs_as_the_local_scorer(tmp_path):
    from clients.scoring import beam_inputs
    from clients.scoring import files as score_io

    for name in ("p/a-b/1.png", "p/a/2.png", "p/a/n.txt", "p/3.GIF", "p/a/c/4.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    for spec in (f"{tmp_path}/p", f"{tmp_path}/p/", f"{tmp_path}/p/*/*.png"):
        assert beam_inputs.input_format(spec) == score_io.input_format(Path(spec)) == "images"
        local = [(i.index, i.id, i.value) for i in score_io.read_items(spec)]
        assert [(i.index, i.id, i.value) for i in beam_inputs.image_items(spec)] == local
    assert [i.id for i in beam_inputs.image_items(f"{tmp_path}/p")] == [
        "3.GIF", "a/2.png", "a/c/4.jpg", "a-b/1.png"]  # folder by folder


@needs_beam
def test_an_unreachable_server_fails_the_pipeline_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "in.txt").write_text("hallo welt\nguten morgen\n")
    assert beam_score("translator", str(tmp_path / "in.txt"), "-o", str(tmp_path / "o.jsonl"),
                      "--server", f"127.0.0.1:{free_port()}", "--retries", "1") == 1
    message = capsys.readouterr().err
    assert "error: the pipeline failed and wrote no output" in message
    assert "UNAVAILABLE" in message and "still failing after 2 attempts" in message
    assert list(tmp_path.glob("o.jsonl*")) == []  # no rows, no shards (Beam's temp folder
    # beam-temp-o.jsonl-* stays behind, as it does after any failed job)
