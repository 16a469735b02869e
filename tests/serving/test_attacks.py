"""Request-side attacks against a live `tfstack serve`: each is refused or answered
without the server's memory passing ~100 MB over what it held before, and the server
keeps answering a probe. The figures a deployer can rely on are in docs/serving.md."""

from __future__ import annotations

import socket
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.launcher import ServerProcess, free_port
from tests.messages import predict_request
from tests.serving.conftest import write_doubler

BODY_BUDGET = 4 * 1024 * 1024  # --rest_max_body_bytes_in_flight of this server
TIMEOUT_MS = 3000  # --rest_api_timeout_in_ms


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacked")
    write_doubler(root / "1")
    with ServerProcess("--model_name=doubler", f"--model_base_path={root}",
                       f"--rest_api_port={free_port()}",
                       f"--rest_api_timeout_in_ms={TIMEOUT_MS}",
                       f"--rest_max_body_bytes_in_flight={BODY_BUDGET}") as running:
        yield running


@pytest.fixture(scope="module")
def stub(server):
    return prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(server.target))


def peak_rss(server: ServerProcess) -> int:
    """The server's largest resident memory so far (VmHWM), in bytes."""
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def probe(server: ServerProcess, stub) -> None:
    """The server is up and answers both transports."""
    assert server.process.poll() is None, "".join(server.log[-40:])
    answer = stub.Predict(predict_request("doubler", {"x": np.ones((1, 2), np.float32)}),
                          timeout=30)
    assert tf.make_ndarray(answer.outputs["y"]).tolist() == [[2.0, 2.0]]
    rest = requests.post(f"{server.rest_url}/v1/models/doubler:predict",
                         json={"instances": [[1, 2]]}, timeout=30)
    assert rest.json() == {"predictions": [{"y": [2.0, 4.0], "total": 3.0}]}


def test_sixty_megabytes_of_empty_arrays_are_refused_before_parsing(server, stub):
    probe(server, stub)
    before = peak_rss(server)
    body = b'{"instances": [' + b",".join([b"[]"] * 20_000_000) + b"]}"  # 60 MB
    response = requests.post(f"{server.rest_url}/v1/models/doubler:predict", data=body,
                             timeout=120)
    assert response.status_code == 400
    assert "20000001 arrays" in response.json()["error"]
    assert "--rest_max_parsed_body_bytes" in response.json()["error"]
    # the body itself is read once (60 MB); parsing it would have built ~2 GB
    assert peak_rss(server) - before < 200 * 1024 * 1024
    probe(server, stub)


def test_a_million_strings_filled_from_one_value_cost_nothing(server, stub):
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b""])
    proto.tensor_shape.dim.add(size=1_000_000)
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = "doubler", "shout"
    request.inputs["text"].CopyFrom(proto)
    before = peak_rss(server)
    with pytest.raises(grpc.RpcError) as caught:
        stub.Predict(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert peak_rss(server) - before < 20 * 1024 * 1024
    probe(server, stub)


def stalled_upload(server: ServerProcess, declared: int) -> socket.socket:
    """A connection that sent the headers of a `declared`-byte body and one byte of it."""
    host, port = server.rest_url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)), timeout=60)
    connection.sendall(b"POST /v1/models/doubler:predict HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Type: application/json\r\n"
                       b"Content-Length: %d\r\n\r\n{" % declared)
    return connection


def test_stalled_uploads_hold_the_body_budget_only_until_the_timeout(server, stub):
    stalled = stalled_upload(server, BODY_BUDGET - 100)
    url = f"{server.rest_url}/v1/models/doubler:predict"
    refused = None
    for _ in range(1000):  # until the server has taken the stalled body's reservation
        answer = requests.post(url, json={"instances": [[1.0, 2.0]] * 100}, timeout=30)
        if answer.status_code == 429:
            refused = answer.json()["error"]
            break
        assert answer.status_code == 200
    assert refused is not None and "--rest_max_body_bytes_in_flight" in refused
    # the stalled body is answered DEADLINE_EXCEEDED (504) at --rest_api_timeout_in_ms
    reply = stalled.recv(4096)
    assert reply.startswith(b"HTTP/1.1 504"), reply[:200]
    assert b"--rest_api_timeout_in_ms=%d" % TIMEOUT_MS in reply
    stalled.close()
    probe(server, stub)  # its reservation is back
