"""An in-process server over generic (non-tfstack) SavedModels, for servicer tests."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import grpc
import pytest
import tensorflow as tf

from serving.config import ServerConfig, model_configs
from serving.dataplane import DataPlane
from serving.metrics import DEFAULT_PATH
from serving.repository import ModelRepository
from serving.rest import start_rest
from serving.server import create_server, set_serving


class Doubler(tf.Module):
    """A model that is not ours: doubles floats and upper-cases strings."""

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    def double(self, x):
        return {"y": x * 2.0, "total": tf.reduce_sum(x, axis=1)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def shout(self, text):
        return {"upper": tf.strings.upper(text)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image")])
    def decode(self, image):
        decoded = tf.map_fn(lambda b: tf.shape(tf.io.decode_png(b)), image,
                            fn_output_signature=tf.int32)
        return {"shape": decoded}


def write_example_model(path: Path) -> Path:
    """A TF1-style SavedModel (not ours) with classify and regress signatures on
    serialized tf.Examples holding one float feature `x`."""
    v1 = tf.compat.v1
    with tf.Graph().as_default(), v1.Session() as session:
        serialized = v1.placeholder(tf.string, [None], name="tf_example")
        x = tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)})["x"]
        scores = tf.concat([tf.sigmoid(x), 1 - tf.sigmoid(x)], axis=1)  # (batch, 2)
        classes = tf.tile(tf.constant([["positive", "negative"]]), [tf.shape(x)[0], 1])
        classify = v1.saved_model.classification_signature_def(serialized, classes, scores)
        regress = v1.saved_model.regression_signature_def(serialized, 2 * x + 1)
        builder = v1.saved_model.Builder(str(path))
        builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={
            "serving_default": classify, "classify_x": classify, "regress_x": regress})
        builder.save()
    return path


def write_doubler(path: Path) -> Path:
    module = Doubler()
    tf.saved_model.save(module, str(path), signatures={
        "serving_default": module.double, "shout": module.shout, "decode": module.decode,
    })
    return path


class InProcessServer:
    """The real grpc.aio server and REST API on their own event-loop thread, on free
    ports."""

    def __init__(self, repository: ModelRepository, batching=None):
        self.repository = repository
        self.batching = batching
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> "InProcessServer":
        self.thread.start()
        self.repository.poll()
        self.dataplane = DataPlane(self.repository, max_threads=4, batching=self.batching)
        self.server, self.port, self.health = self._run(self._start())
        self.target = f"127.0.0.1:{self.port}"
        self.channel = grpc.insecure_channel(self.target)
        return self

    async def _start(self):
        server, port, health = create_server(self.dataplane, "127.0.0.1:0")
        await server.start()
        self.rest, rest_port = await start_rest(self.dataplane, "127.0.0.1", 0, 1 << 20,
                                                DEFAULT_PATH)
        self.rest_url = f"http://127.0.0.1:{rest_port}"
        await set_serving(health, True)
        return server, port, health

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    def __exit__(self, *exc) -> None:
        self.channel.close()
        self._run(self.rest.cleanup())
        self._run(self.server.stop(1))
        self.dataplane.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def doubler_root(tmp_path_factory) -> Path:
    """A model folder with versions 1 and 2 of the Doubler and a corrupt version 3."""
    root = tmp_path_factory.mktemp("doubler")
    write_doubler(root / "1")
    write_doubler(root / "2")
    (root / "3").mkdir()
    (root / "3" / "saved_model.pb").write_bytes(b"this is not a protobuf")
    return root


@pytest.fixture(scope="module")
def server(doubler_root):
    """Serves `doubler` (all versions; 3 fails to load) and `healthy` (latest only),
    configured by a TF Serving model config file."""
    write_doubler(doubler_root.parent / "healthy_root" / "7")
    config_file = doubler_root.parent / "models.config"
    config_file.write_text(f"""
model_config_list {{
  config {{
    name: "doubler"
    base_path: "{doubler_root}"
    model_platform: "tensorflow"
    model_version_policy {{ all {{}} }}
    version_labels {{ key: "stable" value: 1 }}
    version_labels {{ key: "canary" value: 2 }}
  }}
  config {{
    name: "healthy"
    base_path: "{doubler_root.parent / 'healthy_root'}"
    model_platform: "tensorflow"
  }}
}}
""")
    models = model_configs(ServerConfig(model_config_file=str(config_file)))
    with InProcessServer(ModelRepository(models, allow_labels_for_unavailable=True)) as running:
        yield running


@pytest.fixture(scope="module")
def examples_server(tmp_path_factory):
    """Serves `ex`, a TF1-style model with classify/regress signatures, as version 4."""
    root = tmp_path_factory.mktemp("examples")
    write_example_model(root / "4")
    models = model_configs(ServerConfig(model_name="ex", model_base_path=str(root)))
    with InProcessServer(ModelRepository(models)) as server:
        yield server
