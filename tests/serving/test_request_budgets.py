"""What a request may cost is counted on what the server would build, not on the bytes
sent: string fills, rows, and a Classify context copied into every example.

TF Serving decodes tensors with `Tensor::FromProto`, which fills a declared shape by
repeating the last value sent (tensorflow_serving/servables/tensorflow/predict_util.cc),
and merges the context into each example (servables/tensorflow/util.cc,
InputToSerializedExampleTensor). It bounds neither; the embedded server refuses what
would cost far more than the request carried, with INVALID_ARGUMENT naming the limit.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import classification_pb2, predict_pb2, prediction_service_pb2_grpc

from serving.dataplane import RequestLimits
from tests.messages import predict_request


@pytest.fixture(scope="module")
def stub(server):
    return prediction_service_pb2_grpc.PredictionServiceStub(server.channel)


def strings(declared: int, *values: bytes) -> predict_pb2.PredictRequest:
    """A request to the doubler's `shout` signature whose `text` declares `declared`
    elements and carries `values`."""
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=list(values))
    proto.tensor_shape.dim.add(size=declared)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "doubler"
    request.model_spec.signature_name = "shout"
    request.inputs["text"].CopyFrom(proto)
    return request


def refused(call, request) -> str:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return caught.value.details()


def still_answers(stub) -> None:
    response = stub.Predict(predict_request("doubler", {"x": np.ones((1, 2), np.float32)}),
                            timeout=30)
    assert tf.make_ndarray(response.outputs["y"]).tolist() == [[2.0, 2.0]]


def test_a_million_empty_strings_from_one_value_are_refused_as_a_fill(stub):
    request = strings(1_000_000, b"")
    assert request.ByteSize() < 60
    message = refused(stub.Predict, request)
    assert "would add 31999968 bytes" in message  # 32 bytes each filled string slot
    assert "limit of 65536 bytes per request (--max_request_fill_bytes)" in message
    assert "'text' 1000000 elements, 1 values sent" in message
    still_answers(stub)


def test_one_large_string_repeated_counts_every_copy(stub):
    message = refused(stub.Predict, strings(1000, b"x" * 100_000))
    assert "declare 100032000 bytes" in message and "--max_request_tensor_bytes" in message
    still_answers(stub)


def test_a_small_string_fill_within_the_budget_is_decoded_as_tensorflow_does(stub):
    response = stub.Predict(strings(3, b"a", b"b"), timeout=30)
    assert tf.make_ndarray(response.outputs["upper"]).tolist() == [b"A", b"B", b"B"]


def test_rows_beyond_the_limit_are_refused_without_batching(stub):
    limit = RequestLimits().max_request_rows
    x = np.ones((limit + 1, 2), np.float32)
    message = refused(stub.Predict, predict_request("doubler", {"x": x}))
    assert message == (f"the request has {limit + 1} rows, more than the server's limit of "
                       f"{limit} rows per request (--max_request_rows); split it into "
                       f"requests of at most {limit} rows")
    response = stub.Predict(predict_request("doubler", {"x": x[:limit]}), timeout=30)
    assert tf.make_ndarray(response.outputs["total"]).shape == (limit,)


@pytest.fixture(scope="module")
def examples_stub(examples_server):
    return prediction_service_pb2_grpc.PredictionServiceStub(examples_server.channel)


def context_request(context_bytes: int, examples: int) -> classification_pb2.ClassificationRequest:
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "ex"
    with_context = request.input.example_list_with_context
    with_context.context.features.feature["pad"].bytes_list.value.append(b"p" * context_bytes)
    for _ in range(examples):
        with_context.examples.add().features.feature["x"].float_list.value.append(1.0)
    return request


def test_a_context_shared_by_many_examples_is_sized_before_it_is_copied(examples_stub):
    request = context_request(200_000, 400)  # 200 kB sent, 80 MB once merged
    assert request.ByteSize() < 250_000
    message = refused(examples_stub.Classify, request)
    shared = request.input.example_list_with_context.context.ByteSize()
    assert f"400 examples, each merged with the {shared}-byte context" in message
    assert "--max_request_tensor_bytes" in message
    answer = examples_stub.Classify(context_request(1000, 4), timeout=30)
    assert len(answer.result.classifications) == 4


def test_examples_beyond_the_row_limit_are_refused(examples_stub):
    limit = RequestLimits().max_request_rows
    message = refused(examples_stub.Classify, context_request(10, limit + 1))
    assert f"the request has {limit + 1} rows" in message


def test_an_input_the_signature_does_not_take_is_refused_by_name_before_it_is_decoded(stub):
    # predict_util.cc checks each alias before parsing its tensor: a malformed tensor
    # under an unknown name is refused for its name, and costs no decoding
    malformed = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_content=b"\0" * 3)
    malformed.tensor_shape.dim.add(size=2)
    request = predict_request("doubler", {})
    request.inputs["bogus"].CopyFrom(malformed)
    message = refused(stub.Predict, request)
    assert message.startswith("input tensor alias not found in signature: bogus.")
    still_answers(stub)
