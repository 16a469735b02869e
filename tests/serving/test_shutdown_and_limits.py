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
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.launcher import ServerProcess
from tests.messages import predict_request


class Spinner(tf.Module):
    """Counts to `steps` in a graph loop: a request that takes a while (~2.5 µs a step)."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="steps")])
    def spin(self, steps):
        i = tf.while_loop(lambda i: i < tf.reduce_max(steps), lambda i: i + 1,
                          [tf.constant(0, tf.int64)])[0]
        return {"counted": tf.fill(tf.shape(steps), i)}


def test_sigterm_finishes_the_request_in_flight_then_exits_0(tmp_path):
    module = Spinner()
    tf.saved_model.save(module, str(tmp_path / "1"), signatures={"serving_default": module.spin})
    with ServerProcess("--model_name=spin", f"--model_base_path={tmp_path}") as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(server.target))
        answers = []
        slow = threading.Thread(target=lambda: answers.append(stub.Predict(predict_request(
            "spin", {"steps": np.array([1_500_000])}), timeout=120)))
        slow.start()
        time.sleep(1.0)  # the request is running now
        server.terminate()
        slow.join(120)
        assert tf.make_ndarray(answers[0].outputs["counted"]).tolist() == [1_500_000]
        assert server.stop() == 0
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(predict_request("spin", {"steps": np.array([1])}), timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


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
