"""Request-side attacks against a live `tfstack serve`: each is refused or answered
without the server's memory passing ~100 MB over what it held before, and the server
keeps answering a probe. The figures a deployer can rely on are in docs/serving.md."""

from __future__ import annotations

import collections
import socket
from pathlib import Path

import grpc
import h2.config
import h2.connection
import h2.events
import numpy as np
import pytest
import requests
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.launcher import ServerProcess, free_port
from tests.messages import predict_request
from tests.serving.conftest import write_doubler
from tests.serving.test_shutdown_and_limits import Spinner

BODY_BUDGET = 4 * 1024 * 1024  # --rest_max_body_bytes_in_flight of this server
TIMEOUT_MS = 3000  # --rest_api_timeout_in_ms
STALL_SECONDS = 2  # --receive_timeout_seconds and --header_timeout_seconds
MAX_CONNECTIONS = 40  # --max_connections (each listener)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacked")
    write_doubler(root / "1")
    with ServerProcess("--model_name=doubler", f"--model_base_path={root}",
                       f"--rest_api_port={free_port()}",
                       f"--rest_api_timeout_in_ms={TIMEOUT_MS}",
                       f"--rest_max_body_bytes_in_flight={BODY_BUDGET}",
                       f"--receive_timeout_seconds={STALL_SECONDS}",
                       f"--header_timeout_seconds={STALL_SECONDS}",
                       f"--max_connections={MAX_CONNECTIONS}") as running:
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


def rest_socket(server: ServerProcess) -> socket.socket:
    host, port = server.rest_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=60)


def stalled_upload(server: ServerProcess, declared: int, encoding: bytes = b"") -> socket.socket:
    """A connection that sent the headers of a `declared`-byte body and one byte of it."""
    connection = rest_socket(server)
    connection.sendall(b"POST /v1/models/doubler:predict HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Type: application/json\r\n"
                       + (b"Content-Encoding: %s\r\n" % encoding if encoding else b"")
                       + b"Content-Length: %d\r\n\r\n{" % declared)
    return connection


# A gzip body of 100 bytes may inflate to the 64 MiB body limit: it is counted so.
@pytest.mark.parametrize("declared, encoding", [(BODY_BUDGET - 100, b""), (100, b"gzip")],
                         ids=["plain", "compressed"])
def test_stalled_uploads_hold_the_body_budget_only_until_the_timeout(server, stub, declared,
                                                                     encoding):
    stalled = stalled_upload(server, declared, encoding)
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


def test_a_flood_beyond_the_concurrent_call_cap_is_resource_exhausted_never_cancelled(
        tmp_path):
    module = Spinner()  # calls that last: the cap is surely reached
    tf.saved_model.save(module, str(tmp_path / "1"), signatures={"serving_default": module.spin})
    with ServerProcess("--model_name=spin", f"--model_base_path={tmp_path}",
                       "--grpc_max_concurrent_rpcs=16") as flooded:
        channels = [grpc.insecure_channel(flooded.target) for _ in range(10)]
        request = predict_request("spin", {"steps": np.array([100_000])})
        futures = [prediction_service_pb2_grpc.PredictionServiceStub(
            channels[i % 10]).Predict.future(request, timeout=60) for i in range(3000)]
        codes = collections.Counter()
        for future in futures:
            try:
                future.result()
                codes[grpc.StatusCode.OK] += 1
            except grpc.RpcError as e:
                codes[e.code(), e.details()] += 1
        for channel in channels:
            channel.close()
    refused = (grpc.StatusCode.RESOURCE_EXHAUSTED, "Concurrent RPC limit exceeded!")
    assert set(codes) <= {grpc.StatusCode.OK, refused}, codes
    assert codes[refused] > 0  # the flood did pass the cap


def test_a_stalled_grpc_upload_is_cancelled_after_the_receive_timeout(server, stub):
    host, port = server.target.split(":")
    connection = socket.create_connection((host, int(port)), timeout=60)
    http2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    http2.initiate_connection()
    http2.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":authority", host),
                           (":path", "/tensorflow.serving.PredictionService/Predict"),
                           ("content-type", "application/grpc"), ("te", "trailers")])
    # a gRPC message header declaring 10 MB, then 1 kB of it, then nothing
    http2.send_data(1, b"\0" + (10 * 1024 * 1024).to_bytes(4, "big") + b"\0" * 1024)
    connection.sendall(http2.data_to_send())
    status = None
    while status is None:
        data = connection.recv(65536)
        assert data, "the server closed the connection without ending the call"
        for event in http2.receive_data(data):
            if isinstance(event, h2.events.StreamReset) and status is None:
                status = "reset"
            elif isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                status = dict(event.headers).get(b"grpc-status")
        connection.sendall(http2.data_to_send())
    assert status == b"4"  # DEADLINE_EXCEEDED, the call ended and its buffer freed
    connection.close()
    probe(server, stub)


def test_rest_connections_are_capped_and_silent_ones_closed(server, stub):
    idle = [rest_socket(server) for _ in range(MAX_CONNECTIONS)]
    beyond = rest_socket(server)
    assert beyond.recv(1) == b""  # closed at once: the listener is full
    for connection in idle:  # each owes its first request's headers within the timeout
        assert connection.recv(1) == b""
    slow = rest_socket(server)
    slow.sendall(b"GET /v1/models/doubler HTTP/1.1\r\nHost: x\r\n")  # and no more
    assert slow.recv(1) == b""
    probe(server, stub)
