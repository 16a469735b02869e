"""Access logs for machines: one JSON object per request, with a request id the client
sent (`x-request-id`) or the server made, returned in the gRPC initial metadata and
the REST headers, and surfaced by the client in its ClientError."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest
import requests
from tensorflow_serving.apis import prediction_service_pb2_grpc

from clients.client import ServingClient
from clients.errors import ClientError
from tests.launcher import ServerProcess, free_port
from tests.messages import predict_request
from tests.serving.conftest import write_doubler

X = {"x": np.ones((3, 2), np.float32)}
FIELDS = {"time", "request_id", "peer", "protocol", "method", "model", "version",
          "signature", "status", "latency_ms", "queue_ms", "batch_size", "bytes_in",
          "bytes_out"}


@pytest.fixture(scope="module")
def model_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("logged")
    write_doubler(root / "1")
    return root


def access_lines(server: ServerProcess) -> list[dict]:
    return [json.loads(line.split("serving.access: ", 1)[1]) for line in server.log
            if "serving.access: " in line]


def logged(server: ServerProcess, request_id: str) -> dict:
    """The access line of one request, once the server has written it."""
    server.stop()  # every line is written before the process exits
    [line] = [line for line in access_lines(server) if line["request_id"] == request_id]
    return line


def test_json_lines_carry_the_request_id_sent_and_returned(model_root):
    with ServerProcess("--model_name=m", f"--model_base_path={model_root}",
                       f"--rest_api_port={free_port()}", "--access_log",
                       "--access_log_format=json") as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(server.target))
        request = predict_request("m", X)
        _, call = stub.Predict.with_call(request, timeout=30,
                                         metadata=[("x-request-id", "client-42")])
        assert dict(call.initial_metadata())["x-request-id"] == "client-42"
        answer = requests.post(f"{server.rest_url}/v1/models/m:predict",
                               json={"instances": [[1, 2]]}, timeout=30)
        made = answer.headers["X-Request-Id"]  # none sent: the server made one
        assert len(made) == 32 and made != "client-42"
    lines = {line["request_id"]: line for line in access_lines(server)}
    grpc_line, rest_line = lines["client-42"], lines[made]
    assert set(grpc_line) == FIELDS
    assert (grpc_line["protocol"], grpc_line["method"], grpc_line["status"]) == (
        "grpc", "/tensorflow.serving.PredictionService/Predict", "OK")
    assert (grpc_line["model"], grpc_line["version"], grpc_line["signature"]) == (
        "m", "1", "serving_default")
    assert grpc_line["batch_size"] == 3 and grpc_line["bytes_in"] == request.ByteSize()
    assert grpc_line["bytes_out"] > 0 and grpc_line["latency_ms"] > 0
    assert (rest_line["protocol"], rest_line["method"], rest_line["status"]) == (
        "http", "POST /v1/models/m:predict", "200")
    assert rest_line["model"] == "m" and rest_line["bytes_in"] > 0


def test_a_failed_call_names_its_request_id_in_the_client_error(model_root):
    with ServerProcess("--model_name=m", f"--model_base_path={model_root}",
                       "--access_log", "--access_log_format=json") as server:
        with ServingClient(server.target, deadline=30) as client:
            with pytest.raises(ClientError) as info:
                client.predict("nope", X)
        error = info.value
        assert error.code == grpc.StatusCode.NOT_FOUND and len(error.request_id) == 32
        assert f"(request id {error.request_id})" in str(error)
        line = logged(server, error.request_id)
    assert line["status"] == "NOT_FOUND" and line["model"] == "<unknown>"  # not the name


def test_a_forged_request_id_is_replaced(model_root):
    with ServerProcess("--model_name=m", f"--model_base_path={model_root}",
                       "--access_log") as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(server.target))
        _, call = stub.Predict.with_call(predict_request("m", X), timeout=30,
                                         metadata=[("x-request-id", "two words")])
        given = dict(call.initial_metadata())["x-request-id"]
        assert given != "two words" and len(given) == 32
        server.stop()
    [line] = [line for line in server.log if f"id={given}" in line]  # the text format
    assert "/tensorflow.serving.PredictionService/Predict OK" in line
    assert "model=m version=1 signature=serving_default" in line and "batch=3" in line


def test_a_batched_request_logs_its_batch_and_its_wait(model_root, tmp_path):
    config = tmp_path / "batching.config"
    config.write_text("max_batch_size { value: 8 } batch_timeout_micros { value: 1000 } "
                      "allowed_batch_sizes: 4 allowed_batch_sizes: 8")
    with ServerProcess("--model_name=m", f"--model_base_path={model_root}",
                       "--enable_batching", f"--batching_parameters_file={config}",
                       "--access_log", "--access_log_format=json") as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(server.target))
        stub.Predict(predict_request("m", X), timeout=30,
                     metadata=[("x-request-id", "batched")])
        line = logged(server, "batched")
    assert line["batch_size"] == 4  # 3 rows, padded to the next allowed size
    assert line["queue_ms"] > 0  # it waited for the batch to form
