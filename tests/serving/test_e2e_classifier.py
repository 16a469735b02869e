"""End to end: the trained, exported classifier behind the real `tfstack serve`
process, called over gRPC with TF Serving's official stubs."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_service_pb2_grpc

from tests.launcher import ServerProcess
from tests.messages import png, predict_request

pytestmark = pytest.mark.fashion
Code = grpc.StatusCode


def request(inputs: dict, model="classifier", signature="", version=None):
    return predict_request(model, inputs, signature, version)


@pytest.fixture(scope="module")
def stub(classifier_server):
    channel = grpc.insecure_channel(classifier_server.target)
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel)
    channel.close()


def test_held_out_images_come_back_with_their_labels(stub, fashion_test_images):
    images, labels = fashion_test_images
    response = stub.Predict(request({"image_bytes": [png(x) for x in images]}), timeout=60)
    ids = tf.make_ndarray(response.outputs["class_ids"])
    classes = tf.make_ndarray(response.outputs["classes"])
    scores = tf.make_ndarray(response.outputs["scores"])
    assert ids.shape == (len(images), 5) and ids.dtype == np.int64
    assert np.mean(ids[:, 0] == labels) > 0.6  # chance is 0.1
    assert np.all(np.diff(scores, axis=1) <= 0)  # best first
    assert classes[0, 0].decode() in ("Ankle boot", "Sneaker", "Sandal", "Bag")
    assert response.model_spec.version.value == 1


def test_pixels_signature_agrees_with_image_bytes(stub, fashion_test_images):
    images = fashion_test_images[0][:20]
    by_pixels = stub.Predict(request({"pixels": images.astype(np.float32)},
                                     signature="predict_pixels"), timeout=60)
    by_bytes = stub.Predict(request({"image_bytes": [png(x) for x in images]}), timeout=60)
    np.testing.assert_array_equal(tf.make_ndarray(by_pixels.outputs["class_ids"])[:, 0],
                                  tf.make_ndarray(by_bytes.outputs["class_ids"])[:, 0])


def _bad(name: str):
    good_png = png(np.zeros((28, 28, 1)))
    cases = {
        "undecodable bytes": (request({"image_bytes": [b"GIF89a broken"]}),
                              Code.INVALID_ARGUMENT, "Invalid GIF data"),
        "empty bytes": (request({"image_bytes": [b""]}), Code.INVALID_ARGUMENT,
                        "signature 'serving_default' could not process the request"),
        "text instead of an image": (request({"image_bytes": [b"hello world"]}),
                                     Code.INVALID_ARGUMENT, "Unknown image file format"),
        "wrong dtype": (request({"image_bytes": np.zeros(2, np.float32)}),
                        Code.INVALID_ARGUMENT, "expects DT_STRING but the request sent DT_FLOAT"),
        "wrong pixel shape": (request({"pixels": np.zeros((1, 32, 32, 3), np.float32)},
                                      signature="predict_pixels"),
                              Code.INVALID_ARGUMENT,  # the graph's own error, as on TF Serving
                              "output depth must be evenly divisible by number of groups"),
        "unknown model": (request({"image_bytes": [good_png]}, model="resnet"),
                          Code.NOT_FOUND, "Servable not found for request: Latest(resnet)"),
        "unknown version": (request({"image_bytes": [good_png]}, version=42),
                            Code.NOT_FOUND, "Specific(classifier, 42)"),
        "unknown signature": (request({"image_bytes": [good_png]}, signature="predict_logits"),
                              Code.FAILED_PRECONDITION, "predict_pixels, serving_default"),
    }
    return cases[name]


BAD = ["undecodable bytes", "empty bytes", "text instead of an image", "wrong dtype",
       "wrong pixel shape", "unknown model", "unknown version", "unknown signature"]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_gets_its_status_and_the_next_request_is_answered(stub, case):
    bad_request, code, message = _bad(case)
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(bad_request, timeout=60)
    assert info.value.code() == code
    assert message in info.value.details()
    good = stub.Predict(request({"image_bytes": [png(np.zeros((28, 28, 1)))]}), timeout=60)
    assert tf.make_ndarray(good.outputs["classes"]).shape == (1, 5)


def test_server_replayed_warmup_records(classifier_server):
    assert any("replayed 2 warm-up records" in line for line in classifier_server.log)


def test_sigterm_stops_the_server_cleanly(classifier_repository):
    with ServerProcess("--model_name=classifier",
                       f"--model_base_path={classifier_repository / 'classifier'}") as server:
        assert server.target
    assert server.returncode == 0


def test_server_without_models_exits_with_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="Both server_options.model_base_path and "
                       "server_options.model_config_file are empty!"):
        with ServerProcess(startup_seconds=60):
            pass
