"""`tfstack score` when things go wrong, against real servers: an outage stops the run
resumably (no error rows), a batch over the message size limit is split, and one
stalled batch holds back at most `concurrency` batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

from clients.scoring.local import ScoreConfig, score
from serving.config import ServerConfig, model_configs
from serving.metrics import DEFAULT_PATH
from serving.repository import ModelRepository
from serving.rest import start_rest
from serving.server import create_server, set_serving
from tests.launcher import ServerProcess, free_port
from tests.serving.conftest import InProcessServer

pytestmark = pytest.mark.fashion

MESSAGE_LIMIT = 8 * 1024  # bytes a request may take on the small-message server


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """300 real held-out Fashion-MNIST images as PNG files (a few hundred bytes each)."""
    from models.vision import fashion_mnist

    folder = tmp_path_factory.mktemp("faults")
    _, (images, _) = fashion_mnist.load()
    for i in range(300):
        Image.fromarray(images[i, :, :, 0]).save(folder / f"{i:04d}.png")
    return folder


def rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().split(b"\n") if line]


def tfstack_score(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tfstack.command", "score", *args,
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_an_outage_stops_the_run_resumably_without_error_rows(classifier_repository, photos,
                                                               tmp_path):
    port = free_port()
    serve = ("--model_name=classifier",
             f"--model_base_path={classifier_repository / 'classifier'}", f"--port={port}")
    output = tmp_path / "out.jsonl"
    args = ["classifier", str(photos), "-o", str(output), "--batch-size", "1",
            "--concurrency", "2", "--retries", "2", "--deadline", "2",
            "--server", f"127.0.0.1:{port}"]
    expected = sorted(p.name for p in photos.glob("*.png"))
    with ServerProcess(*serve) as server:
        run = tfstack_score(*args)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (not output.exists() or
                                               output.read_bytes().count(b"\n") < 20):
            time.sleep(0.02)
        server.process.kill()  # an outage: no drain, the port refuses from now on
        server.process.wait()
    try:
        assert run.wait(90) == 1
    finally:
        run.kill()
    message = run.stderr.read()
    assert "the server stayed unavailable" in message and "--resume" in message, message
    written = rows(output)
    assert 20 <= len(written) < len(expected), "the server died after the run ended"
    assert not any("error" in row for row in written)  # the outage left no error rows
    assert [r["id"] for r in written] == expected[:len(written)]  # a complete prefix

    with ServerProcess(*serve):
        resumed = tfstack_score(*args, "--resume")
        assert resumed.wait(120) == 0, resumed.stderr.read()
    assert [r["id"] for r in rows(output)] == expected  # each input once, in order


class SmallMessageServer(InProcessServer):
    """The real gRPC server in this process, refusing requests over MESSAGE_LIMIT bytes
    as any gRPC server does: RESOURCE_EXHAUSTED, "Received message larger than max"."""

    async def _start(self):
        server, port, health = create_server(self.dataplane, "127.0.0.1:0", MESSAGE_LIMIT)
        await server.start()
        self.rest, _ = await start_rest(self.dataplane, "127.0.0.1", 0, 1 << 20, DEFAULT_PATH)
        await set_serving(health, True)
        return server, port, health


def test_a_batch_over_the_message_limit_is_split_down_to_the_input_at_fault(
        classifier_repository, photos, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in sorted(photos.glob("*.png"))[:30]:  # 30 x ~400 bytes: over the limit together
        (folder / path.name).write_bytes(path.read_bytes())
    noise = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "0015_noise.png")  # ~28 KB: over it alone
    assert (folder / "0015_noise.png").stat().st_size > MESSAGE_LIMIT
    models = model_configs(ServerConfig(model_name="classifier",
                                        model_base_path=str(classifier_repository / "classifier")))
    with SmallMessageServer(ModelRepository(models)) as server:
        summary = score(ScoreConfig("classifier", str(folder), str(tmp_path / "out.jsonl"),
                                    server=server.target, batch_size=64, retries=2,
                                    progress=False))
    written = rows(tmp_path / "out.jsonl")
    assert [r["id"] for r in written] == sorted(p.name for p in folder.glob("*.png"))
    errors = {r["id"]: r["error"] for r in written if "error" in r}
    assert list(errors) == ["0015_noise.png"]
    assert errors["0015_noise.png"].startswith("RESOURCE_EXHAUSTED: ")
    assert "Received message larger than max" in errors["0015_noise.png"]
    assert errors["0015_noise.png"].endswith("(this input alone is over the message size limit)")
    assert all(len(r["labels"]) == 5 for r in written if "error" not in r)
    assert (summary.written, summary.errors, summary.retries) == (31, 1, 0)  # split, not retried


def test_a_stalled_batch_holds_back_at_most_concurrency_batches(classifier_server, photos,
                                                                tmp_path):
    stalled = tmp_path / "stalled.png"
    os.mkfifo(stalled)  # reading it blocks until the test writes it
    images = sorted(photos.glob("*.png"))[:60]
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{p}\n" for p in [stalled, *images]))
    output = tmp_path / "out.jsonl"
    config = ScoreConfig("classifier", str(listing), str(output), server=classifier_server.target,
                         batch_size=1, concurrency=3, progress=False)
    result = {}
    runner = threading.Thread(target=lambda: result.update(summary=score(config)), daemon=True)
    runner.start()
    try:
        time.sleep(3)  # the first batch waits; the others could all finish meanwhile
        assert output.read_bytes() == b""  # nothing overtakes the first row
    finally:
        stalled.write_bytes(images[0].read_bytes())  # the stalled read completes
    runner.join(120)
    summary = result["summary"]
    assert (summary.written, summary.errors) == (61, 0)
    assert [r["input"] for r in rows(output)] == [str(p) for p in [stalled, *images]]
    assert 1 <= summary.peak_buffered <= config.concurrency
