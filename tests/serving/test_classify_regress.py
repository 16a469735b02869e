"""Classify, Regress and MultiInference on tf.Examples, over gRPC and REST, on a
TF1-style SavedModel with classify/regress signatures."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving.config import ServerConfig, model_configs
from serving.repository import ModelRepository
from tests.serving.conftest import InProcessServer


def example(**features) -> tf.train.Example:
    message = tf.train.Example()
    for name, value in features.items():
        message.features.feature[name].float_list.value.append(value)
    return message


@pytest.fixture(scope="module")
def stub(examples_server):
    return prediction_service_pb2_grpc.PredictionServiceStub(examples_server.channel)


def test_classify_returns_labels_and_scores_per_example(stub):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "ex"
    request.input.example_list.examples.extend([example(x=3.0), example(x=-3.0)])
    response = stub.Classify(request, timeout=30)
    first, second = response.result.classifications
    assert [c.label for c in first.classes] == ["positive", "negative"]
    assert first.classes[0].score == pytest.approx(1 / (1 + np.exp(-3.0)), rel=1e-5)
    assert second.classes[0].score < 0.5
    assert response.model_spec.version.value == 4


def test_regress_with_shared_context(stub):
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "ex"
    request.model_spec.signature_name = "regress_x"
    with_context = request.input.example_list_with_context
    with_context.context.CopyFrom(example(x=10.0))
    with_context.examples.extend([example(x=1.0), tf.train.Example()])
    response = stub.Regress(request, timeout=30)
    assert [r.value for r in response.result.regressions] == [3.0, 21.0]  # 2x+1


def test_multi_inference_runs_each_task(stub):
    request = inference_pb2.MultiInferenceRequest()
    for signature, method in (("classify_x", "tensorflow/serving/classify"),
                              ("regress_x", "tensorflow/serving/regress")):
        task = request.tasks.add(method_name=method)
        task.model_spec.name, task.model_spec.signature_name = "ex", signature
    request.input.example_list.examples.append(example(x=0.0))
    classified, regressed = stub.MultiInference(request, timeout=30).results
    assert classified.classification_result.classifications[0].classes[0].score == 0.5
    assert regressed.regression_result.regressions[0].value == 1.0


# servables/tensorflow/classifier.cc and regressor.cc: with the method_name check off
# (the default), a signature of the other kind fails on its outputs
@pytest.mark.parametrize("signature,call,message", [
    ("regress_x", "Classify", 'Expected classification signature outputs to contain at '
                              'least one of "classes" or "scores". Signature was: '),
    ("classify_x", "Regress", "Expected one output Tensor."),
    ("nope", "Classify", "No signature was found with the name: 'nope'"),
])
def test_wrong_signature_kind_is_invalid_argument(stub, signature, call, message):
    request_type = (classification_pb2.ClassificationRequest if call == "Classify"
                    else regression_pb2.RegressionRequest)
    request = request_type()
    request.model_spec.name, request.model_spec.signature_name = "ex", signature
    request.input.example_list.examples.append(example(x=1.0))
    with pytest.raises(grpc.RpcError) as info:
        getattr(stub, call)(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in info.value.details()


def test_empty_input_and_missing_feature_are_invalid_argument(stub):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "ex"
    with pytest.raises(grpc.RpcError) as info:
        stub.Classify(request, timeout=30)
    assert "Input is empty" in info.value.details()
    request.input.example_list.examples.append(example(y=1.0))
    with pytest.raises(grpc.RpcError) as info:
        stub.Classify(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "x" in info.value.details()


def test_rest_classify_and_regress(examples_server):
    url = f"{examples_server.rest_url}/v1/models/ex"
    classified = requests.post(f"{url}:classify", json={"examples": [{"x": 0.0}]}, timeout=30)
    assert classified.json() == {"results": [[["positive", 0.5], ["negative", 0.5]]]}
    regressed = requests.post(f"{url}/versions/4:regress", timeout=30, json={
        "signature_name": "regress_x", "context": {"x": 2.0}, "examples": [{}, {"x": [4.0]}]})
    assert regressed.json() == {"results": [5.0, 9.0]}
    bad = requests.post(f"{url}:regress", json={"examples": [{"x": {"nested": 1}}]}, timeout=30)
    assert bad.status_code == 400 and "feature 'x'" in bad.json()["error"]


@pytest.mark.parametrize("value, message", [
    (2**63, "Feature: x has uint64 element. Only int64 is supported."),
    (10**400, "Number too big to be stored in double"),
])
def test_rest_feature_integers_beyond_int64_are_refused_as_tf_serving_reads_them(
        examples_server, value, message):
    url = f"{examples_server.rest_url}/v1/models/ex:classify"
    answer = requests.post(url, data=f'{{"examples": [{{"x": {value}}}]}}', timeout=30)
    assert answer.status_code == 400
    assert message in answer.json()["error"]


class Tf2Classifier(tf.Module):
    """A TF2 export: its signatures' method_name is always tensorflow/serving/predict."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(self, inputs):
        x = tf.io.parse_example(inputs, {"x": tf.io.FixedLenFeature([1], tf.float32)})["x"]
        return {"scores": tf.concat([tf.sigmoid(x), 1 - tf.sigmoid(x)], axis=1)}


@pytest.fixture(scope="module")
def tf2_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("tf2")
    module = Tf2Classifier()
    tf.saved_model.save(module, str(root / "1"), signatures={"serving_default": module.classify})
    return root


def classify_request(name: str) -> classification_pb2.ClassificationRequest:
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = name
    request.input.example_list.examples.append(example(x=0.0))
    return request


@pytest.mark.parametrize("check", [False, True], ids=["default", "method name check"])
def test_classify_serves_tf2_exports_unless_the_method_name_check_is_on(tf2_root, check):
    models = model_configs(ServerConfig(model_name="tf2", model_base_path=str(tf2_root)))
    with InProcessServer(ModelRepository(models)) as server:
        server.dataplane.check_method_names = check  # --enable_signature_method_name_check
        stub = prediction_service_pb2_grpc.PredictionServiceStub(server.channel)
        if not check:
            result = stub.Classify(classify_request("tf2"), timeout=30).result
            assert [c.score for c in result.classifications[0].classes] == [0.5, 0.5]
            return
        with pytest.raises(grpc.RpcError) as info:
            stub.Classify(classify_request("tf2"), timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.details() == (
            "Expected classification signature method_name to be "
            "tensorflow/serving/classify. Was: tensorflow/serving/predict")
