"""The Open Inference Protocol (KServe v2) on the same server and models, called with
Triton's own clients (`tritonclient.http`, `tritonclient.grpc` and its asyncio client),
and the same requests counted alike whichever of the four adapters carried them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
import tritonclient.grpc as triton_grpc
import tritonclient.grpc.aio as triton_grpc_aio
import tritonclient.http as triton_http
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import prediction_service_pb2_grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

from serving.metrics import DEFAULT_PATH
from tests.messages import predict_request

X = np.array([[1.0, 2.0], [3.0, 4.5]], np.float32)


@pytest.fixture(scope="module")
def http(server):
    return triton_http.InferenceServerClient(server.rest_url.removeprefix("http://"))


@pytest.fixture(scope="module")
def grpc_client(server):
    return triton_grpc.InferenceServerClient(server.target)


def tf_serving_predict(server, inputs: dict, signature: str = "", version=None) -> dict:
    """The same request over TF Serving's Predict, for the answers to agree with."""
    stub = prediction_service_pb2_grpc.PredictionServiceStub(server.channel)
    response = stub.Predict(predict_request("doubler", inputs, signature, version), timeout=30)
    return {key: tf.make_ndarray(proto) for key, proto in response.outputs.items()}


def doubler_inputs(module, binary: bool = True):
    x = module.InferInput("x", list(X.shape), "FP32")
    if module is triton_http:
        x.set_data_from_numpy(X, binary_data=binary)
    else:
        x.set_data_from_numpy(X)
    return [x]


def test_health_and_metadata_over_rest(http):
    assert http.is_server_live() and http.is_server_ready()
    assert http.is_model_ready("doubler") and http.is_model_ready("doubler", "1")
    assert not http.is_model_ready("doubler", "3")  # failed to load
    assert http.get_server_metadata()["extensions"] == ["binary_tensor_data",
                                                          "classification"]
    metadata = http.get_model_metadata("doubler")
    assert metadata["versions"] == ["2"] and metadata["platform"] == "tensorflow_savedmodel"
    assert metadata["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}]
    assert {o["name"]: o["shape"] for o in metadata["outputs"]} == {"total": [-1], "y": [-1, 2]}


def test_health_and_metadata_over_grpc(grpc_client):
    assert grpc_client.is_server_live() and grpc_client.is_server_ready()
    assert grpc_client.is_model_ready("doubler", "stable")  # a label as the version
    metadata = grpc_client.get_model_metadata("doubler", "1")
    assert metadata.versions == ["1"]
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
        ("x", "FP32", [-1, 2])]


@pytest.mark.parametrize("binary", [True, False], ids=["binary data", "JSON data"])
def test_rest_infer_answers_as_tf_serving_predict(server, http, binary):
    outputs = [triton_http.InferRequestedOutput("y", binary_data=binary)]
    result = http.infer("doubler", doubler_inputs(triton_http, binary), outputs=outputs)
    np.testing.assert_array_equal(result.as_numpy("y"), tf_serving_predict(server, {"x": X})["y"])
    assert result.as_numpy("total") is None  # only what was asked for
    assert result.get_response()["model_version"] == "2"


def test_grpc_infer_answers_as_tf_serving_predict_by_version(server, grpc_client):
    result = grpc_client.infer("doubler", doubler_inputs(triton_grpc), model_version="1")
    expected = tf_serving_predict(server, {"x": X}, version=1)
    for name in ("y", "total"):
        np.testing.assert_array_equal(result.as_numpy(name), expected[name])
    assert result.get_response().model_version == "1"


def test_asyncio_grpc_client_and_a_named_signature(server):
    async def shout():
        async with triton_grpc_aio.InferenceServerClient(server.target) as client:
            text = triton_grpc.InferInput("text", [2], "BYTES")
            text.set_data_from_numpy(np.array([b"abc", b""], dtype=object))
            return await client.infer("doubler", [text],
                                      parameters={"signature_name": "shout"})

    result = asyncio.run(shout())
    assert result.as_numpy("upper").tolist() == [b"ABC", b""]


def test_a_tiny_request_declaring_a_huge_shape_is_refused_before_anything_is_built(server):
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [300000, 28, 28, 1],
                        "data": [1.0]}]}
    answer = requests.post(f"{server.rest_url}/v2/models/doubler/infer",
                           json=body, timeout=30)
    assert answer.status_code == 400
    assert "more than the server's limit" in answer.json()["error"]


BAD = {  # name: (REST infer body, expected HTTP status, gRPC code, text in both)
    "unknown model": ("nope", {"inputs": []}, 404, grpc.StatusCode.NOT_FOUND,
                      "Servable not found"),
    "wrong datatype": ("doubler", {"inputs": [{"name": "x", "datatype": "INT32",
                                               "shape": [1, 2], "data": [1, 2]}]},
                       400, grpc.StatusCode.INVALID_ARGUMENT, "expects DT_FLOAT"),
    "too few values": ("doubler", {"inputs": [{"name": "x", "datatype": "FP32",
                                               "shape": [2, 2], "data": [1, 2]}]},
                       400, grpc.StatusCode.INVALID_ARGUMENT, "needs 4 values"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_requests_get_the_same_status_over_rest_and_grpc(server, case):
    model, body, http_status, code, text = BAD[case]
    answer = requests.post(f"{server.rest_url}/v2/models/{model}/infer", json=body, timeout=30)
    assert answer.status_code == http_status and text in answer.json()["error"]
    request = service_pb2.ModelInferRequest(model_name=model)  # contents, not raw bytes
    for entry in body["inputs"]:
        tensor = request.inputs.add(name=entry["name"], datatype=entry["datatype"],
                                    shape=entry["shape"])
        field = "fp32_contents" if entry["datatype"] == "FP32" else "int_contents"
        getattr(tensor.contents, field).extend(entry["data"])
    stub = service_pb2_grpc.GRPCInferenceServiceStub(server.channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(request, timeout=30)
    assert info.value.code() == code and text in info.value.details()


def request_counts(server) -> dict[tuple[str, str], float]:
    """Predict requests counted so far, by model and status (over versions and
    signatures)."""
    text = requests.get(server.rest_url + DEFAULT_PATH, timeout=30).text
    counts = {}
    for family in text_string_to_metric_families(text):
        if family.name == ":tensorflow:serving:request_count":
            for s in family.samples:
                if s.name.endswith("_total") and s.labels["API"] == "predict":
                    key = (s.labels["model_name"], s.labels["status"])
                    counts[key] = counts.get(key, 0) + s.value
    return counts


def test_each_adapter_counts_the_same_request_the_same(server, http, grpc_client):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(server.channel)
    good, bad = X, np.ones((1, 2), np.int32)
    adapters = {
        "tf serving grpc": lambda x: stub.Predict(predict_request("doubler", {"x": x}),
                                                  timeout=30),
        "tf serving rest": lambda x: requests.post(
            f"{server.rest_url}/v1/models/doubler:predict",
            json={"inputs": {"x": x.tolist()}}, timeout=30).raise_for_status()
        if x.dtype == np.float32 else requests.post(  # a dtype REST can send: strings
            f"{server.rest_url}/v1/models/doubler:predict",
            json={"inputs": {"x": [["a", "b"]]}}, timeout=30).raise_for_status(),
        "oip rest": lambda x: http.infer("doubler", [_input(triton_http, x)]),
        "oip grpc": lambda x: grpc_client.infer("doubler", [_input(triton_grpc, x)]),
    }
    for name, call in adapters.items():
        before = request_counts(server)
        call(good)
        with pytest.raises(Exception):  # noqa: B017 - each client raises its own type
            call(bad)
        after = request_counts(server)
        delta = {key: after.get(key, 0) - before.get(key, 0) for key in after}
        assert {k: v for k, v in delta.items() if v} == {
            ("doubler", "OK"): 1, ("doubler", "INVALID_ARGUMENT"): 1}, name


def _input(module, x: np.ndarray):
    tensor = module.InferInput("x", list(x.shape), "FP32" if x.dtype == np.float32 else "INT32")
    tensor.set_data_from_numpy(x)
    return tensor


KSERVE_CLIENTS = """
import asyncio, json, sys
import numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig

rest_url, target, x = sys.argv[1], sys.argv[2], np.array(json.loads(sys.argv[3]), np.float32)

def request():
    tensor = InferInput("x", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=False)
    return InferRequest(model_name="doubler", infer_inputs=[tensor])

async def both():
    rest = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
    over_rest = await rest.infer(rest_url, request(), model_name="doubler")
    await rest.close()
    grpc_client = InferenceGRPCClient(target, timeout=30)
    over_grpc = await grpc_client.infer(request())
    await grpc_client.close()
    return [{o.name: o.as_numpy().tolist() for o in r.outputs} for r in (over_rest, over_grpc)]

print(json.dumps(asyncio.run(both())))
"""


def test_kserve_clients_answer_as_tf_serving_predict(server):
    """KServe's own InferenceRESTClient (v2) and InferenceGRPCClient, as a KServe graph
    or transformer calls a v2 predictor. In a process of their own: kserve and
    tritonclient each register the `inference.*` protos, which one process cannot
    hold twice."""
    done = subprocess.run([sys.executable, "-c", KSERVE_CLIENTS, server.rest_url,
                           server.target, json.dumps(X.tolist())],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = tf_serving_predict(server, {"x": X})
    for outputs in json.loads(done.stdout.strip().splitlines()[-1]):
        np.testing.assert_array_equal(np.array(outputs["y"], np.float32), expected["y"])
        np.testing.assert_array_equal(np.array(outputs["total"], np.float32),
                                      expected["total"])


def test_the_repository_index_lists_each_version_with_its_state(server, http, grpc_client):
    """The repository extension's index, with TF Serving's states mapped to its names;
    a version that failed to load says why."""
    index = http.get_model_repository_index()
    states = {(m["name"], m["version"]): m["state"] for m in index}
    assert states == {("doubler", "1"): "READY", ("doubler", "2"): "READY",
                      ("doubler", "3"): "UNAVAILABLE", ("healthy", "7"): "READY"}
    [failed] = [m for m in index if m["version"] == "3"]
    assert "could not be loaded" in failed["reason"]
    ready = grpc_client.get_model_repository_index()  # all, then only the ready ones
    assert len(ready.models) == 4
    answer = requests.post(f"{server.rest_url}/v2/repository/index",
                           json={"ready": True}, timeout=30).json()
    assert sorted((m["name"], m["version"]) for m in answer) == [
        ("doubler", "1"), ("doubler", "2"), ("healthy", "7")]


def test_raw_bytes_beyond_the_declared_shape_are_not_read(server):
    # 4 MB of empty BYTES elements (4 bytes each on the wire, a Python object each once
    # read) under a shape of [1]: refused at the second element, not after a million
    request = service_pb2.ModelInferRequest(model_name="doubler")
    request.inputs.add(name="text", datatype="BYTES", shape=[1])
    request.raw_input_contents.append(b"\0\0\0\0" * 1_000_000)
    request.parameters["signature_name"].string_param = "shout"
    stub = service_pb2_grpc.GRPCInferenceServiceStub(server.channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "hold more than the 1 elements its shape declares" in info.value.details()


def _examples(values) -> np.ndarray:
    return np.array([tf.train.Example(features=tf.train.Features(feature={
        "x": tf.train.Feature(float_list=tf.train.FloatList(value=[v]))}))
        .SerializeToString() for v in values], dtype=object)


@pytest.mark.parametrize("module", [triton_http, triton_grpc], ids=["rest", "grpc"])
def test_the_classification_extension_gives_top_classes_with_classify_labels(
        examples_server, module):
    """tritonclient's class_count on a Classify signature's scores: "score:index:label",
    labels from its `classes` output, best first (Triton's classification extension)."""
    client = module.InferenceServerClient(
        examples_server.target if module is triton_grpc
        else examples_server.rest_url.removeprefix("http://"))
    inputs = module.InferInput("inputs", [2], "BYTES")
    inputs.set_data_from_numpy(_examples([3.0, -3.0]))
    result = client.infer("ex", [inputs], outputs=[
        module.InferRequestedOutput("scores", class_count=1)])
    top = result.as_numpy("scores")
    assert top.shape == (2, 1) and result.as_numpy("classes") is None
    best = [entry.decode().split(":") for entry in top[:, 0]]
    assert [(index, label) for _, index, label in best] == [("0", "positive"),
                                                           ("1", "negative")]
    assert float(best[0][0]) == pytest.approx(1 / (1 + np.exp(-3.0)), abs=1e-6)


def test_classification_without_labels_and_its_refusals(server, http):
    result = http.infer("doubler", doubler_inputs(triton_http), outputs=[
        triton_http.InferRequestedOutput("y", class_count=5)])
    order = np.argsort(-tf_serving_predict(server, {"x": X})["y"], axis=1, kind="stable")
    top = [[entry.decode().split(":")[1] for entry in row] for row in result.as_numpy("y")]
    assert top == order.astype(str).tolist()  # at most the axis' length, no label
    numbers = {"name": "x", "datatype": "FP32", "shape": [2, 2], "data": X.ravel().tolist()}
    text = {"name": "text", "datatype": "BYTES", "shape": [1], "data": ["abc"]}
    for inputs, output, count, signature, message in [
            (numbers, "y", 0, "serving_default", "positive integer"),
            (text, "upper", 1, "shout", "cannot be classified")]:  # strings have no order
        body = {"inputs": [inputs], "parameters": {"signature_name": signature},
                "outputs": [{"name": output, "parameters": {"classification": count}}]}
        answer = requests.post(f"{server.rest_url}/v2/models/doubler/infer", json=body,
                               timeout=30)
        assert answer.status_code == 400 and message in answer.json()["error"]
