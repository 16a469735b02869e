"""TF Serving's gRPC API on the real server, in process, over a model that is not ours."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from tests.messages import predict_request

Code = grpc.StatusCode


def doubler(signature="", version=None, label=None, **inputs):
    return predict_request("doubler", inputs, signature, version, label)


@pytest.fixture(scope="module")
def stub(server):
    return prediction_service_pb2_grpc.PredictionServiceStub(server.channel)


def test_predict_runs_default_signature_of_latest_version(stub):
    x = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    response = stub.Predict(doubler(x=x), timeout=30)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), x * 2)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["total"]), [3.0, 7.0])
    assert response.model_spec.name == "doubler"
    assert response.model_spec.version.value == 2
    assert response.model_spec.signature_name == "serving_default"


def test_predict_by_version_and_label(stub):
    x = np.ones((1, 2), np.float32)
    assert stub.Predict(doubler(version=1, x=x)).model_spec.version.value == 1
    assert stub.Predict(doubler(label="stable", x=x)).model_spec.version.value == 1
    assert stub.Predict(doubler(label="canary", x=x)).model_spec.version.value == 2


def test_output_filter_returns_only_asked_outputs(stub):
    request = doubler(x=np.ones((1, 2), np.float32))
    request.output_filter.append("total")
    assert set(stub.Predict(request).outputs) == {"total"}


def test_shapes_are_the_graphs_to_judge_as_on_tf_serving(stub):
    # x is declared [-1,2]; TF Serving feeds it to the graph, which doubles any shape
    response = stub.Predict(doubler(x=np.ones((1, 3), np.float32)), timeout=30)
    assert tf.make_ndarray(response.outputs["y"]).tolist() == [[2.0, 2.0, 2.0]]


def test_string_signature(stub):
    response = stub.Predict(doubler(signature="shout", text=np.array([b"abc", b""])))
    assert list(tf.make_ndarray(response.outputs["upper"])) == [b"ABC", b""]


def _filtered(names):
    request = doubler(x=np.ones((1, 2), np.float32))
    request.output_filter.extend([names] if isinstance(names, str) else names)
    return request


BAD_REQUESTS = {
    "unknown model": (predict_request("nope", {"x": np.ones((1, 2), np.float32)}),
                      Code.NOT_FOUND, "Servable not found for request: Latest(nope)"),
    "unknown version": (doubler(version=9, x=np.ones((1, 2), np.float32)),
                        Code.NOT_FOUND, "Specific(doubler, 9)"),
    "failed version": (doubler(version=3, x=np.ones((1, 2), np.float32)),
                       Code.NOT_FOUND, "Versions available: 1, 2"),
    "unknown label": (doubler(label="beta", x=np.ones((1, 2), np.float32)),
                      Code.NOT_FOUND, "label: beta"),
    "unknown signature": (doubler(signature="nope", x=np.ones((1, 2), np.float32)),
                          Code.FAILED_PRECONDITION, 'signature key "nope" not found'),
    "wrong dtype": (doubler(x=np.ones((1, 2), np.int32)),
                    Code.INVALID_ARGUMENT, "expects DT_FLOAT but the request sent DT_INT32"),
    # the graph, not the server, judges shapes: its own error comes back
    "rank the graph cannot take": (doubler(x=np.ones((2,), np.float32)),
                                   Code.INVALID_ARGUMENT, "Invalid reduction dimension"),
    # predict_util.cc, VerifyRequestInputsSize
    "missing input": (doubler(), Code.INVALID_ARGUMENT,
                      "input size does not match signature: 0!=1 len({}) != len({x}). Sent "
                      "extra: {}. Missing but required: {x}."),
    "extra input": (doubler(x=np.ones((1, 2), np.float32), z=np.ones(1)),
                    Code.INVALID_ARGUMENT, "Sent extra: {z}. Missing but required: {}."),
    "renamed input": (doubler(z=np.ones((1, 2), np.float32)), Code.INVALID_ARGUMENT,
                      "input tensor alias not found in signature: z"),
    "unknown output filter": (_filtered("nope"), Code.INVALID_ARGUMENT,
                              "output tensor alias not found in signature: nope"),
    "output filter twice": (_filtered(["y", "y"]), Code.INVALID_ARGUMENT,
                            "duplicate output tensor alias: y"),
    "undecodable bytes": (doubler(signature="decode", image=np.array([b"not a png"])),
                          Code.INVALID_ARGUMENT, "PNG"),
}


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=list(BAD_REQUESTS))
def test_bad_request_gets_precise_status_and_server_keeps_serving(stub, case):
    request, code, message = BAD_REQUESTS[case]
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=30)
    assert info.value.code() == code
    assert message in info.value.details()
    good = stub.Predict(doubler(x=np.ones((1, 2), np.float32)), timeout=30)
    np.testing.assert_allclose(tf.make_ndarray(good.outputs["y"]), [[2.0, 2.0]])


def test_model_metadata_has_every_signature_def(stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "doubler"
    response = stub.GetModelMetadata(request)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    assert set(signatures.signature_def) == {"serving_default", "shout", "decode",
                                             "__saved_model_init_op"}
    x = signatures.signature_def["serving_default"].inputs["x"]
    assert x.dtype == tf.float32.as_datatype_enum
    assert [d.size for d in x.tensor_shape.dim] == [-1, 2]
    assert response.model_spec.version.value == 2


def test_model_metadata_needs_a_supported_field(stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "doubler"
    with pytest.raises(grpc.RpcError) as info:
        stub.GetModelMetadata(request)
    assert info.value.code() == Code.INVALID_ARGUMENT
    request.metadata_field.append("owner")
    with pytest.raises(grpc.RpcError) as info:
        stub.GetModelMetadata(request)
    assert "Metadata field owner is not supported" in info.value.details()


def test_model_status_reports_each_version_and_load_errors(server):
    stub = model_service_pb2_grpc.ModelServiceStub(server.channel)
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "doubler"
    statuses = {s.version: s for s in stub.GetModelStatus(request).model_version_status}
    State = get_model_status_pb2.ModelVersionStatus.State
    assert [statuses[v].state for v in (1, 2, 3)] == [State.AVAILABLE, State.AVAILABLE, State.END]
    assert statuses[1].status.error_code == 0
    assert statuses[3].status.error_code == Code.FAILED_PRECONDITION.value[0]
    assert "saved_model.pb does not parse" in statuses[3].status.error_message
    request.model_spec.name = "healthy"
    assert [s.version for s in stub.GetModelStatus(request).model_version_status] == [7]
    request.model_spec.name = "nope"
    with pytest.raises(grpc.RpcError) as info:
        stub.GetModelStatus(request)
    assert info.value.code() == Code.NOT_FOUND


def test_health_reports_serving_for_server_and_services(server):
    health = health_pb2_grpc.HealthStub(server.channel)
    for service in ("", "tensorflow.serving.PredictionService",
                    "tensorflow.serving.ModelService"):
        response = health.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as info:
        health.Check(health_pb2.HealthCheckRequest(service="no.Such"))
    assert info.value.code() == Code.NOT_FOUND


def test_reflection_lists_tf_serving_services(server):
    stub = reflection_pb2_grpc.ServerReflectionStub(server.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    response = next(stub.ServerReflectionInfo(iter([request])))
    names = {s.name for s in response.list_services_response.service}
    assert {"tensorflow.serving.PredictionService", "tensorflow.serving.ModelService",
            "grpc.health.v1.Health"} <= names


@pytest.mark.parametrize("method", ["/tensorflow.serving.PredictionService/Predict",
                                    "/tensorflow.serving.ModelService/GetModelStatus",
                                    "/grpc.health.v1.Health/Check"])
def test_bytes_that_are_no_request_are_internal_as_tf_servings_grpc_answers(server, method):
    call = server.channel.unary_unary(method)  # raw bytes in and out
    with pytest.raises(grpc.RpcError) as info:
        call(b"\xff\xff\xff", timeout=30)
    assert info.value.code() == Code.INTERNAL
    # the rest of the message is protobuf's own, which differs between its releases
    assert info.value.details().startswith("Failed to parse request: Error parsing message")
