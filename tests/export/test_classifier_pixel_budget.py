"""The exported classifier reads each image's header and refuses, with
INVALID_ARGUMENT and before decoding, an image of more pixels than its export's
budget (`tfstack export classifier --max-image-pixels`); served by the real server."""

from __future__ import annotations

import io
import struct
import time
import zlib

import grpc
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from contract.endpoints import CLASSIFIER
from export.classifier import export_classifier
from models.vision.image_headers import DEFAULT_MAX_IMAGE_PIXELS, MAX_GIF_STEPS
from tests.launcher import ServerProcess
from tests.messages import png, predict_request
from tfstack.command import build_parser, main

pytestmark = pytest.mark.fashion
BUDGET = 800  # pixels: a 28x28 image (784) fits, 29x28 (812) does not


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG header declaring width x height grey pixels, with image data
    for four rows only: a few hundred bytes instead of the file that would fill it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 4)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows)
            + chunk(b"IEND", b""))


def encoded(fmt: str, width: int, height: int, frames: int = 1) -> bytes:
    """A real `fmt` file of distinct random frames (so no encoder merges them)."""
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (height, width, 3), np.uint8))
              for _ in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, fmt, save_all=frames > 1, append_images=images[1:])
    return buffer.getvalue()


@pytest.fixture(scope="module")
def tiny_repository(trained_classifier, tmp_path_factory):
    """The trained classifier exported by the command line with a budget of 800 pixels."""
    repository = tmp_path_factory.mktemp("tiny_budget")
    assert main(["export", "classifier", "--model-dir", str(trained_classifier.model_dir),
                 "--repository", str(repository), "--max-image-pixels", str(BUDGET)]) == 0
    return repository


def stub_of(target: str):
    return prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(target))


@pytest.fixture(scope="module")
def tiny(tiny_repository):
    with ServerProcess("--model_name=classifier",
                       f"--model_base_path={tiny_repository / 'classifier'}") as server:
        yield stub_of(server.target)


def predict(stub, images: list[bytes]):
    return stub.Predict(predict_request("classifier", {"image_bytes": images}), timeout=60)


def refusal(stub, images: list[bytes]) -> str:
    with pytest.raises(grpc.RpcError) as info:
        predict(stub, images)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return info.value.details()


def over(index: int, size: str, pixels: int, limit: int = BUDGET) -> str:
    return (f"image {index} is a {size} ({pixels} pixels to decode), more than the {limit} "
            "pixels this model decodes per image (max_image_pixels, set at export)")


def test_a_400_megapixel_png_is_refused_fast_by_the_default_export(classifier_server):
    stub = stub_of(classifier_server.target)
    bomb = png_claiming(20_000, 20_000)
    assert len(bomb) < 1024
    started = time.monotonic()
    details = refusal(stub, [bomb])
    assert time.monotonic() - started < 5  # decoding it takes ~18 s and ~400 MB
    assert over(0, "20000x20000 PNG", 400_000_000, DEFAULT_MAX_IMAGE_PIXELS) in details
    answer = predict(stub, [png(np.zeros((28, 28, 1)))])
    assert tf.make_ndarray(answer.outputs["classes"]).shape == (1, 5)


def test_an_image_within_the_budget_still_classifies(tiny, fashion_test_images):
    images, labels = fashion_test_images
    answer = predict(tiny, [png(image) for image in images[:50]])
    ids = tf.make_ndarray(answer.outputs["class_ids"])
    assert ids.shape == (50, 5)
    assert np.mean(ids[:, 0] == labels[:50]) > 0.6  # chance is 0.1
    gif = encoded("GIF", 28, 28)  # a GIF's frames count too: 784 pixels
    assert tf.make_ndarray(predict(tiny, [gif]).outputs["scores"]).shape == (1, 5)


@pytest.mark.parametrize("case", ["png", "jpeg", "bmp", "gif", "animated gif"])
def test_an_image_over_the_budget_is_refused_naming_its_size(tiny, case):
    image, expected = {
        "png": (png(np.zeros((28, 29, 1))), over(0, "29x28 PNG", 812)),
        "jpeg": (tf.io.encode_jpeg(np.zeros((30, 40, 3), np.uint8)).numpy(),
                 over(0, "40x30 JPEG", 1200)),
        "bmp": (encoded("BMP", 30, 30), over(0, "30x30 BMP", 900)),
        "gif": (encoded("GIF", 30, 30), over(0, "30x30 GIF", 900)),
        # each 20x20 frame fits, but the decoder expands all three
        "animated gif": (encoded("GIF", 20, 20, frames=3), over(0, "20x20 GIF", 1200)),
    }[case]
    assert expected in refusal(tiny, [image])


def test_one_image_over_the_budget_refuses_the_batch_and_is_named(tiny):
    small = png(np.zeros((28, 28, 1)))
    jpeg = tf.io.encode_jpeg(np.zeros((30, 40, 3), np.uint8)).numpy()
    assert over(1, "40x30 JPEG", 1200) in refusal(tiny, [small, jpeg, small])


def test_formats_the_contract_does_not_name_are_refused(tiny):
    details = refusal(tiny, [encoded("WEBP", 8, 8)])
    assert ("image 0 cannot be decoded by this model: it is a WebP image; send JPEG, PNG, "
            "GIF or BMP") in details


def test_a_gif_of_too_many_blocks_is_refused_and_fewer_are_read(tiny):
    gif = encoded("GIF", 28, 28)
    assert gif.endswith(b"\x3b")
    comments = b"\x21\xfe\x00"  # an empty comment extension: one block
    fewer = gif[:-1] + comments * 100 + b"\x3b"
    assert tf.make_ndarray(predict(tiny, [fewer]).outputs["scores"]).shape == (1, 5)
    started = time.monotonic()
    details = refusal(tiny, [gif[:-1] + comments * (MAX_GIF_STEPS + 10) + b"\x3b"])
    assert time.monotonic() - started < 10
    assert (f"image 0 cannot be decoded by this model: it is a GIF with more blocks (frames, "
            f"extensions) than the {MAX_GIF_STEPS} this model reads per request") in details


def test_undecodable_and_unknown_bytes_keep_the_decoders_own_errors(tiny):
    assert "Invalid GIF data" in refusal(tiny, [b"GIF89a broken"])
    assert "Unknown image file format" in refusal(tiny, [b"hello world"])


def test_the_budget_keeps_the_wire_contract(tiny_repository):
    saved_model = saved_model_pb2.SavedModel.FromString(
        (tiny_repository / "classifier" / "1" / "saved_model.pb").read_bytes())
    signatures = saved_model.meta_graphs[0].signature_def
    assert set(signatures) >= {s.name for s in CLASSIFIER.signatures}
    for signature in CLASSIFIER.signatures:
        exported = signatures[signature.name]
        for specs, tensors in ((signature.inputs, exported.inputs),
                               (signature.outputs, exported.outputs)):
            assert {key: types_pb2.DataType.Name(info.dtype) for key, info in tensors.items()} \
                == {spec.key: spec.dtype for spec in specs}


def test_the_command_line_default_is_the_exporters_and_must_be_positive():
    parser = build_parser()
    assert parser.parse_args(["export", "classifier"]).max_image_pixels \
        == DEFAULT_MAX_IMAGE_PIXELS
    with pytest.raises(SystemExit):
        parser.parse_args(["export", "classifier", "--max-image-pixels", "0"])


def test_a_budget_below_the_models_own_input_is_refused_at_export(trained_classifier,
                                                                   tmp_path):
    with pytest.raises(ValueError, match="below the model's own input size 28x28"):
        export_classifier(trained_classifier.model_dir, tmp_path, max_image_pixels=783)
    assert not (tmp_path / "classifier" / "1").exists()
