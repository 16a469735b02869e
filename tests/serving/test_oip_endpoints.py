"""The project's three endpoints over the Open Inference Protocol, called with Triton's
HTTP and gRPC clients against `tfstack serve`: each answers exactly what TF Serving's
Predict answers for the same inputs (sample PNGs, a German sentence, a bAbI story)."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tensorflow_serving.apis import prediction_service_pb2_grpc

from tests.launcher import ServerProcess, free_port
from tests.messages import png, predict_request

STORY = "Mary moved to the bathroom.\nJohn went to the hallway."
CASES = {  # model: its inputs (one row each)
    "classifier": lambda images: {"image_bytes": np.array(
        [png(images[0][i][..., None] if images[0][i].ndim == 2 else images[0][i])
         for i in range(3)], dtype=object)},
    "translator": lambda _: {"text": np.array([b"Ich habe Hunger.",
                                               b"Wo ist der Bahnhof?"], dtype=object)},
    "qa": lambda _: {"story": np.array([STORY.encode()], dtype=object),
                     "question": np.array([b"Where is Mary?"], dtype=object)},
}


@pytest.fixture(scope="module")
def three(classifier_repository, translator_repository, qa_repository, tmp_path_factory):
    config = tmp_path_factory.mktemp("three") / "models.config"
    config.write_text("model_config_list {\n" + "".join(
        f'  config {{ name: "{name}" base_path: "{root / name}" model_platform: "tensorflow" }}\n'
        for name, root in (("classifier", classifier_repository),
                           ("translator", translator_repository), ("qa", qa_repository)))
        + "}\n")
    with ServerProcess(f"--model_config_file={config}",
                       f"--rest_api_port={free_port()}") as server:
        yield server


def triton_inputs(module, inputs: dict):
    tensors = []
    for name, value in inputs.items():
        tensor = module.InferInput(name, list(value.shape), "BYTES")
        tensor.set_data_from_numpy(value)
        tensors.append(tensor)
    return tensors


@pytest.mark.parametrize("model", CASES)
def test_each_endpoint_answers_over_oip_as_over_tf_serving(three, fashion_test_images, model):
    inputs = CASES[model](fashion_test_images)
    with grpc.insecure_channel(three.target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(predict_request(model, inputs), timeout=60)
    expected = {key: tf.make_ndarray(value) for key, value in response.outputs.items()}
    over_http = triton_http.InferenceServerClient(three.rest_url.removeprefix("http://"),
                                                  network_timeout=60)
    over_grpc = triton_grpc.InferenceServerClient(three.target)
    results = [over_http.infer(model, triton_inputs(triton_http, inputs)),
               over_grpc.infer(model, triton_inputs(triton_grpc, inputs))]
    for result in results:
        for key, value in expected.items():
            answer = result.as_numpy(key)
            assert answer.shape == value.shape, key
            if value.dtype == object:
                assert answer.tolist() == value.tolist(), key
            else:
                np.testing.assert_array_equal(answer, value)
