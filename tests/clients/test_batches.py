"""Many inputs go in requests of at most `batch_size` (the server's max_batch_size
in mind), in order: against a real server batching at most 4 rows, and with a
recording stand-in for the server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from clients.async_client import AsyncServingClient
from clients.client import ServingClient
from contract import protos
from contract import tensor_codec as tensors
from tests.launcher import ServerProcess


class PixelClassifier(tf.Module):
    """Not trained: an image's class is its mean pixel value // 25, runner-up the next."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def classify(self, image_bytes):
        means = tf.map_fn(
            lambda data: tf.reduce_mean(tf.cast(tf.io.decode_png(data, channels=1), tf.float32)),
            image_bytes, fn_output_signature=tf.float32)  # (batch,)
        best = tf.cast(means // 25.0, tf.int64)
        class_ids = tf.stack([best, (best + 1) % 10], axis=1)  # (batch, 2)
        scores = tf.stack([tf.fill(tf.shape(means), 0.75), tf.fill(tf.shape(means), 0.25)], 1)
        return {"classes": tf.strings.join(["class-", tf.strings.as_string(class_ids)]),
                "scores": scores, "class_ids": class_ids}


@pytest.fixture(scope="module")
def batching_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("pixel_classifier")
    module = PixelClassifier()
    tf.saved_model.save(module, str(root / "1"), signatures={"serving_default": module.classify})
    config = root / "batching.config"
    config.write_text("max_batch_size { value: 4 }\nbatch_timeout_micros { value: 1000 }\n"
                      "num_batch_threads { value: 1 }\n")
    with ServerProcess("--model_name=classifier", f"--model_base_path={root}", "--access_log",
                       "--enable_batching", f"--batching_parameters_file={config}") as server:
        yield server


@pytest.fixture(scope="module")
def ten_images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ten")
    paths = [folder / f"image{i}.png" for i in range(10)]
    for i, path in enumerate(paths):
        Image.fromarray(np.full((6, 5), 25 * i + 10, np.uint8)).save(path)
    return paths


def tfstack(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfstack.command", *argv], capture_output=True,
                          text=True, timeout=120)


def test_cli_sends_ten_images_in_requests_of_the_servers_batch_limit(batching_server,
                                                                      ten_images):
    files = [str(p) for p in ten_images]
    too_many = tfstack("classify", *files, "--server", batching_server.target)
    assert too_many.returncode == 1
    assert "larger than maximum batch size 4" in too_many.stderr  # 10 in one request
    calls = sum("Predict" in line for line in batching_server.log)
    result = tfstack("classify", *files, "--batch-size", "4", "--top-k", "2",
                     "--server", batching_server.target)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{path}: class-{i} 0.750, class-{(i + 1) % 10} 0.250" for i, path in enumerate(files)]
    assert sum("Predict OK" in line for line in batching_server.log[calls:]) == 3  # 4 + 4 + 2


def test_client_classifies_in_batches_in_order(batching_server, ten_images):
    with ServingClient(batching_server.target, deadline=30) as client:
        results = client.classify(ten_images, top_k=1, batch_size=3)
        assert [r.top.class_id for r in results] == list(range(10))
        assert client.classify([], batch_size=4) == []


class RecordingServer:
    """Answers Predict for the translator and QA contracts by echoing each input, and
    records how many rows each request carried."""

    def __init__(self):
        self.rows = []

    def __call__(self, request, timeout=None, wait_for_ready=None, metadata=None):
        key = "question" if "question" in request.inputs else "text"
        texts = tensors.make_ndarray(request.inputs[key])
        self.rows.append(len(texts))
        n = len(texts)
        outputs = {"translation": texts, "score": np.zeros(n, np.float32),
                   "attention": np.ones((n, 1, 1), np.float32),
                   "source_tokens": texts.reshape(n, 1), "target_tokens": texts.reshape(n, 1),
                   "answer": texts, "probability": np.ones(n, np.float32),
                   "gates": np.ones((n, 1, 1), np.float32), "facts": texts.reshape(n, 1)}
        response = protos.PredictResponse()
        for name, value in outputs.items():
            response.outputs[name].CopyFrom(tensors.make_tensor_proto(value))
        return response


def test_translate_and_ask_send_batches_in_order():
    sentences = [f"sentence {i}" for i in range(70)]
    with ServingClient("127.0.0.1:1") as client:
        client._predict = SimpleNamespace(Predict=RecordingServer())
        assert [t.translation for t in client.translate(sentences)] == sentences
        assert [t.translation for t in client.translate(sentences[:10], batch_size=4)] \
            == sentences[:10]
        assert [a.answer for a in client.ask("story", sentences[:5], batch_size=2)] \
            == sentences[:5]
        assert client.ask("story", "one question").answer == "one question"
        assert [t.translation for t in client.translate(sentences, batch_size=None)] == sentences
        assert client._predict.Predict.rows == [32, 32, 6, 4, 4, 2, 2, 2, 1, 1, 70]
        with pytest.raises(ValueError, match="batch_size"):
            client.translate(sentences, batch_size=0)


def test_the_asyncio_client_batches_the_same_way():
    recording = RecordingServer()

    async def predict(request, timeout=None, wait_for_ready=None, metadata=None):
        return recording(request)

    async def run():
        async with AsyncServingClient("127.0.0.1:1") as client:
            client._predict = SimpleNamespace(Predict=predict)
            translated = await client.translate([f"s{i}" for i in range(9)], batch_size=4)
            answers = await client.ask("story", ["a", "b", "c"], batch_size=2)
            return [t.translation for t in translated], [a.answer for a in answers]

    assert asyncio.run(run()) == ([f"s{i}" for i in range(9)], ["a", "b", "c"])
    assert recording.rows == [4, 4, 1, 2, 1]
