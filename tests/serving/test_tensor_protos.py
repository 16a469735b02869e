"""Request tensors are sized before they are built: a declared shape that the values
sent do not fill, or that exceeds the byte budget, is refused with INVALID_ARGUMENT.

TF Serving decodes request tensors with `Tensor::FromProto` (tensorflow_serving/
servables/tensorflow/predict_util.cc: "tensor parsing error: <alias>"), which fills a
declared shape from the last value sent; we refuse fills beyond the byte budget.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from contract.tensor_codec import STRING_ELEMENT_BYTES, tensor_size
from serving.errors import InvalidArgument
from serving.tensor_protos import to_arrays, to_tensor_proto
from tests.messages import predict_request


def declared(shape: list[int], values: list[float] = (1.0,), content: bytes = b"",
             dtype: int = types_pb2.DT_FLOAT) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=dtype, tensor_content=content)
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    if not content:
        proto.float_val.extend(values)
    return proto


@pytest.fixture(scope="module")
def stub(server):
    return prediction_service_pb2_grpc.PredictionServiceStub(server.channel)


def _request(proto: tensor_pb2.TensorProto) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "doubler"
    request.inputs["x"].CopyFrom(proto)
    return request


@pytest.mark.parametrize("shape", [[300000, 28, 28, 1], [64, 4096, 1024, 1], [2**40, 2]])
def test_a_tiny_request_declaring_a_huge_shape_is_refused_with_both_sizes(stub, shape):
    request = _request(declared(shape))
    assert request.ByteSize() < 100
    with pytest.raises(grpc.RpcError) as caught:
        stub.Predict(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    elements = int(np.prod(shape))
    message = caught.value.details()
    assert f"{elements} elements ({elements * 4} bytes), 1 values sent" in message
    assert str(64 * 1024 * 1024) in message and "--max_request_tensor_bytes" in message
    # and the server still answers a good request
    x = np.ones((1, 2), np.float32)
    assert stub.Predict(predict_request("doubler", {"x": x}), timeout=10).outputs["y"]


def test_a_single_value_filling_a_small_shape_is_decoded_as_tensorflow_does(stub):
    response = stub.Predict(_request(declared([3, 2], [1.5])), timeout=10)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), np.full((3, 2), 3.0))


@pytest.mark.parametrize("proto, says", [
    (declared([2, 2], content=b"\0" * 12), "declares 4 elements (16 bytes) but "
                                          "tensor_content holds 12 bytes"),
    (declared([1, 2], [1.0, 2.0, 3.0]), "declares 2 elements but the tensor carries 3"),
    (declared([-1, 2]), "negative dimension"),
    (declared([2], dtype=types_pb2.DT_RESOURCE), "DT_RESOURCE cannot be sent"),
    (declared([2], dtype=999), "dtype 999 (no such DataType) cannot be sent"),
])
def test_malformed_tensors_are_invalid_argument_naming_the_input(stub, proto, says):
    with pytest.raises(grpc.RpcError) as caught:
        stub.Predict(_request(proto), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("tensor parsing error: x: ")
    assert says in caught.value.details()


def test_string_tensors_count_their_bytes_against_the_budget():
    proto = tf.make_tensor_proto(np.array([b"a" * 1000] * 10, dtype=object))
    assert tensor_size(proto).bytes == 10 * 1000 + 10 * STRING_ELEMENT_BYTES
    with pytest.raises(InvalidArgument, match="declare 10320 bytes, more than .* 10000"):
        to_arrays({"text": proto}, max_bytes=10_000)
    assert to_arrays({"text": proto}, max_bytes=20_000)["text"].shape == (10,)


def test_budget_is_for_the_request_not_each_tensor():
    one = tf.make_tensor_proto(np.zeros((100,), np.float32))
    with pytest.raises(InvalidArgument, match="declare 800 bytes"):
        to_arrays({"a": one, "b": one}, max_bytes=600)
    assert set(to_arrays({"a": one, "b": one}, max_bytes=800)) == {"a", "b"}


@pytest.mark.parametrize("dtype, field, sent, decoded", [
    (types_pb2.DT_UINT8, "int_val", [300, -1], [44, 255]),
    (types_pb2.DT_INT8, "int_val", [255, 128], [-1, -128]),
    (types_pb2.DT_UINT16, "int_val", [-5, 65536], [65531, 0]),
    (types_pb2.DT_HALF, "half_val", [65536 + 15360, 15360], [1.0, 1.0]),
])
def test_values_wider_than_their_dtype_wrap_around_as_tensorflow_casts_them(
        dtype, field, sent, decoded):
    proto = tensor_pb2.TensorProto(dtype=dtype)
    proto.tensor_shape.dim.add(size=2)
    getattr(proto, field).extend(sent)
    assert to_arrays({"x": proto})["x"].tolist() == decoded


@pytest.mark.parametrize("array", [
    np.arange(10, dtype=np.float32).reshape(2, 5), np.float32(2.5), np.ones(1, np.float32),
    np.zeros((0, 5), np.float32), np.arange(6, dtype=np.float64), np.arange(6, dtype=np.int32),
    np.arange(6, dtype=np.int64).reshape(3, 2).T, np.array([[b"a", b""], [b"\xff", b"c"]],
                                                            dtype=object),
    np.array(b"scalar", dtype=object), np.array([True, False]), np.arange(4, dtype=np.uint8),
    np.array(["text"], dtype=object), np.array([b"fixed"]),
], ids=lambda a: f"{a.dtype}{list(a.shape)}")
def test_outputs_are_encoded_byte_for_byte_as_make_tensor_proto_does(array):
    assert (to_tensor_proto(array).SerializeToString()
            == tf.make_tensor_proto(array).SerializeToString())
