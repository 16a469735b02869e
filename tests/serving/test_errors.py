"""TensorFlow runtime errors become ServingErrors with the same code and a short message."""

from __future__ import annotations

import grpc
import pytest
import tensorflow as tf

from serving.errors import InvalidArgument, ResourceExhausted, from_tf_error


def graph_error() -> tf.errors.OpError:
    @tf.function
    def decode(data):
        return tf.io.decode_png(data)

    try:
        decode(tf.constant(b"no png"))
    except tf.errors.OpError as e:
        return e
    raise AssertionError("decoding garbage did not fail")


def test_graph_error_keeps_code_and_drops_stack_noise():
    error = from_tf_error(graph_error(), "m version 1 signature 's' could not process")
    assert isinstance(error, InvalidArgument)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    text = str(error)
    assert text.startswith("m version 1 signature 's' could not process: ")
    assert "PNG" in text
    assert "Detected at node" not in text and "[Op:" not in text and "\n" not in text


@pytest.mark.parametrize("tf_error,expected", [
    (tf.errors.ResourceExhaustedError(None, None, "OOM when allocating"), ResourceExhausted),
    (tf.errors.UnknownError(None, None, "boom"), None),
])
def test_codes_map_one_to_one(tf_error, expected):
    error = from_tf_error(tf_error, "ctx")
    if expected is None:
        assert error.code == grpc.StatusCode.INTERNAL
    else:
        assert isinstance(error, expected)
    assert str(error) == f"ctx: {tf_error.message}"
