"""The exported classifier adds up the pixels every image of a request declares and
refuses, with INVALID_ARGUMENT and before decoding any, a request over its export's
budget (`tfstack export classifier --max-request-pixels`); served by the real server."""

from __future__ import annotations

import argparse
import struct
import time
import zlib

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_service_pb2_grpc

from export import cli
from export.classifier import export_classifier
from models.vision.image_headers import DEFAULT_MAX_REQUEST_PIXELS
from tests.export.test_classifier_pixel_budget import png_claiming
from tests.launcher import ServerProcess
from tests.messages import png, predict_request
from tfstack.command import main

pytestmark = pytest.mark.fashion
IMAGE, REQUEST = 800, 2000  # pixels: two 28x28 images (1568) fit, three (2352) do not


@pytest.fixture(scope="module")
def tight(trained_classifier, tmp_path_factory):
    """The trained classifier exported with budgets of 800 pixels an image and 2000 a
    request, served by the real server."""
    repository = tmp_path_factory.mktemp("tight_request_budget")
    assert main(["export", "classifier", "--model-dir", str(trained_classifier.model_dir),
                 "--repository", str(repository), "--max-image-pixels", str(IMAGE),
                 "--max-request-pixels", str(REQUEST)]) == 0
    with ServerProcess("--model_name=classifier",
                       f"--model_base_path={repository / 'classifier'}") as server:
        with grpc.insecure_channel(server.target) as channel:
            yield channel


def predict(channel, images: list[bytes]):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    return stub.Predict(predict_request("classifier", {"image_bytes": images}), timeout=60)


def refusal(channel, images: list[bytes]) -> str:
    with pytest.raises(grpc.RpcError) as info:
        predict(channel, images)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return info.value.details()


def over(last: int, count: int, pixels: int, limit: int = REQUEST) -> str:
    return (f"images 0 to {last} of the {count} in this request declare {pixels} pixels "
            f"to decode in all, more than the {limit} pixels this model decodes per "
            "request (max_request_pixels, set at export); send fewer or smaller images "
            "per request")


def blank_png(width: int, height: int) -> bytes:
    """A valid black grey PNG: 7000x7000 compresses to 48 KB and decodes to 49 MB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    rows = zlib.compress(b"\0" * (width + 1) * height, 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8,
                                                                 0, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def test_64_images_each_under_the_image_budget_are_refused_fast_together(classifier_server):
    bomb = blank_png(7_000, 7_000)  # 49 MP each: under the default 50 MP an image
    assert len(bomb) < 60_000  # 64 of them: a 3 MB request
    with grpc.insecure_channel(classifier_server.target) as channel:
        started = time.monotonic()
        details = refusal(channel, [bomb] * 64)
        assert time.monotonic() - started < 5  # decoding them takes minutes of CPU
        assert over(2, 64, 3 * 49_000_000, DEFAULT_MAX_REQUEST_PIXELS) in details
        answer = predict(channel, [png(np.zeros((28, 28, 1)))] * 64)  # a normal batch
        assert tf.make_ndarray(answer.outputs["classes"]).shape == (64, 5)


def test_a_batch_within_the_request_budget_classifies(tight, fashion_test_images):
    images, labels = fashion_test_images
    answer = predict(tight, [png(image) for image in images[:2]])
    assert tf.make_ndarray(answer.outputs["class_ids"]).shape == (2, 5)


def test_a_batch_over_the_request_budget_is_refused_before_any_image_is_decoded(tight):
    small = png(np.zeros((28, 28, 1)))
    assert over(2, 3, 2352) in refusal(tight, [small, small, small])
    # headers of 28x28 with no image data: decoding any would fail with the decoder's error
    assert over(2, 4, 2352) in refusal(tight, [png_claiming(28, 28)] * 4)


def test_an_image_over_its_own_budget_is_still_named_alone(tight):
    small = png(np.zeros((28, 28, 1)))
    jpeg = tf.io.encode_jpeg(np.zeros((30, 40, 3), np.uint8)).numpy()
    details = refusal(tight, [small, small, jpeg])
    assert ("image 2 is a 40x30 JPEG (1200 pixels to decode), more than the 800 pixels "
            "this model decodes per image") in details


def test_the_command_line_defaults_to_the_exporters_budget_and_must_be_positive():
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    assert parser.parse_args(["export", "classifier"]).max_request_pixels is None
    assert parser.parse_args(["export", "classifier", "--max-request-pixels", "7"]) \
        .max_request_pixels == 7
    with pytest.raises(SystemExit):
        parser.parse_args(["export", "classifier", "--max-request-pixels", "0"])


def test_a_request_budget_below_the_image_budget_is_refused_at_export(trained_classifier,
                                                                        tmp_path):
    with pytest.raises(ValueError, match="max_request_pixels=999 is below max_image_pixels"
                                         "=1000"):
        export_classifier(trained_classifier.model_dir, tmp_path, max_image_pixels=1000,
                          max_request_pixels=999)
    assert not (tmp_path / "classifier" / "1").exists()
