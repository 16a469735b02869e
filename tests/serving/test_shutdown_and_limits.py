"""Graceful shutdown with a request in flight, oversize messages, and bytes that are
not UTF-8."""

from __future__ import annotations

import base64
import threading
import time

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.metrics import DEFAULT_PATH
from tests.launcher import ServerProcess, free_port
from tests.messages import predict_request


class Spinner(tf.Module):
    """Counts to `steps` in a graph loop: a request that takes a while (~2.5 µs a step)."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="steps")])
    def spin(self, steps):
        i = tf.while_loop(lambda i: i < tf.reduce_max(steps), lambda i: i + 1,
                          [tf.constant(0, tf.int64)])[0]
        return {"counted": tf.fill(tf.shape(steps), i)}


@pytest.fixture(scope="module")
def spinner_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("spin")
    module = Spinner()
    tf.saved_model.save(module, str(root / "1"), signatures={"serving_default": module.spin})
    monitoring = root / "monitoring.config"
    monitoring.write_text("prometheus_config { enable: true }")
    return root


def spin_server(root, *flags: str) -> ServerProcess:
    return ServerProcess("--model_name=spin", f"--model_base_path={root}",
                         f"--rest_api_port={free_port()}",
                         f"--monitoring_config_file={root / 'monitoring.config'}", *flags)


def in_flight(server: ServerProcess) -> float:
    text = requests.get(f"{server.rest_url}{DEFAULT_PATH}", timeout=30).text
    return next(sample.value for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == ":tensorflow:serving:requests_in_flight")


def wait_until(condition, seconds: float = 60.0) -> None:
    """Waits for `condition()` to hold (checked every 50 ms), failing after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.05)


def spin(stub, steps: int, answers: list, timeout: float = 600) -> threading.Thread:
    def call():
        try:
            answers.append(stub.Predict(predict_request(
                "spin", {"steps": np.array([steps])}), timeout=timeout))
        except grpc.RpcError as e:
            answers.append(e)

    caller = threading.Thread(target=call)
    caller.start()
    return caller


def test_sigterm_finishes_the_request_in_flight_then_exits_0(spinner_root):
    with spin_server(spinner_root) as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(server.target))
        answers = []
        slow = spin(stub, 1_500_000, answers, timeout=120)
        wait_until(lambda: in_flight(server) == 1)  # the request is running now
        server.terminate()
        slow.join(120)
        assert tf.make_ndarray(answers[0].outputs["counted"]).tolist() == [1_500_000]
        assert server.stop() == 0
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(predict_request("spin", {"steps": np.array([1])}), timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("path", ["pool", "inline"])
def test_shutdown_is_bounded_by_drain_and_grace_whatever_runs(spinner_root, path):
    """NOT_SERVING at once, the grace period for the call in flight, then exit, even
    with a graph that would run for hours, on a graph thread or on the event loop
    (where a signature seen fast runs; it is stopped there after 0.1 s and moved)."""
    with spin_server(spinner_root, "--drain_seconds=0.5",
                     "--grace_period_seconds=1") as server:
        channel = grpc.insecure_channel(server.target)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        if path == "inline":  # a first run is untimed; the next ones find it fast
            for _ in range(3):
                stub.Predict(predict_request("spin", {"steps": np.array([1])}), timeout=30)
        answers = []
        endless = spin(stub, 10**12, answers)  # hours
        wait_until(lambda: in_flight(server) == 1)
        server.terminate()
        health = health_pb2_grpc.HealthStub(channel)
        wait_until(lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
                   == health_pb2.HealthCheckResponse.NOT_SERVING, seconds=5)
        assert server.stop(timeout=60) == 0  # killed after 60 s otherwise: -9
        endless.join(60)
        assert isinstance(answers[0], grpc.RpcError)
        assert answers[0].code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)


def test_oversize_message_is_resource_exhausted_and_server_keeps_serving(server):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(server.channel)
    huge = predict_request("doubler", {"x": np.zeros((9_000_000, 2), np.float32)})  # ~72 MB
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(huge, timeout=60)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    small = stub.Predict(predict_request("doubler", {"x": np.ones((1, 2), np.float32)}))
    assert tf.make_ndarray(small.outputs["total"]).tolist() == [2.0]


def test_non_utf8_bytes_round_trip_over_grpc_and_rest(server):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(server.channel)
    raw = np.array([b"\xff\xfeab"], dtype=object)
    answer = stub.Predict(predict_request("doubler", {"text": raw}, signature="shout"))
    assert tf.make_ndarray(answer.outputs["upper"]).tolist() == [b"\xff\xfeAB"]
    body = {"signature_name": "shout", "instances": [{"b64": base64.b64encode(b"\xff\xfeab")
                                                       .decode()}]}
    response = requests.post(f"{server.rest_url}/v1/models/doubler:predict", json=body,
                             timeout=30)
    [value] = response.json()["predictions"]
    assert base64.b64decode(value["b64"]) == b"\xff\xfeAB"
