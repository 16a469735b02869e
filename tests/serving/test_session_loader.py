"""SavedModels loaded as TF Serving loads them (the session-based SavedModelBundle
loader): TF1 graphs and TF2 exports, zero-padded version folders, the tag set and
Session config from the flags, and only predict_util.cc's checks before the graph."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.config import ServerConfig, model_configs
from serving.errors import FailedPrecondition, InvalidArgument
from serving.repository import ModelRepository
from serving.servable import LoadOptions, load_servable
from serving.server import load_options
from tests.launcher import ServerProcess, free_port
from tests.messages import predict_request
from tests.serving.half_plus import (
    example,
    write_half_plus_three_tf1,
    write_half_plus_two_tf2,
)


@pytest.fixture(scope="module")
def tf1_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("half_plus_three")
    write_half_plus_three_tf1(root / "00000123")
    return root


@pytest.fixture(scope="module")
def tf1(tf1_root):
    return load_servable("half_plus_three", 123, tf1_root / "00000123")


def test_a_tf1_graph_in_a_zero_padded_folder_is_version_123(tf1_root):
    repository = ModelRepository(model_configs(ServerConfig(
        model_name="half_plus_three", model_base_path=str(tf1_root))))
    repository.poll()
    assert [(s.version, s.state) for s in repository.states("half_plus_three")] == [
        (123, "AVAILABLE")]
    servable = repository.servable("half_plus_three", 123)
    outputs = servable.run("serving_default", {"x": np.array([[2.0]], np.float32)})
    assert outputs["y"].tolist() == [[4.0]]  # restored variables: 0.5 * 2 + 3


def test_the_graph_not_the_server_judges_shapes(tf1, tmp_path):
    # x is declared [-1,1]; TF Serving's own test sends [1] and gets y = 3.0
    inputs = {"x": np.array([0.0], np.float32)}
    assert tf1.validate("", inputs) == "serving_default"
    assert tf1.run("serving_default", inputs)["y"].tolist() == [3.0]
    tf2 = load_servable("half_plus_two", 1, write_half_plus_two_tf2(tmp_path / "1"))
    three = {"x": np.array([1.0, 2.0, 5.0], np.float32)}  # declared [1]
    tf2.validate("serving_default", three)
    assert tf2.run("serving_default", three)["y"].tolist() == [2.5, 3.0, 4.5]


def test_a_graph_error_comes_back_with_its_own_status(tf1):
    inputs = {"inputs": np.array([b"not an example"], dtype=object)}
    with pytest.raises(InvalidArgument, match="Could not parse example input"):
        tf1.run("regress_x_to_y", inputs)


def test_a_dtype_the_graph_cannot_take_is_refused_before_it_runs(tf1):
    with pytest.raises(InvalidArgument, match="input 'x' expects DT_FLOAT but the request "
                                              "sent DT_DOUBLE"):
        tf1.validate("", {"x": np.array([[1.0]])})


def test_signature_defaults_fill_the_inputs_a_request_leaves_out(tf1):
    inputs = {"x": np.array([[1.0]], np.float32)}
    tf1.validate("scaled", inputs)
    assert tf1.run("scaled", inputs)["y"].tolist() == [[35.0]]  # scale defaults to 10
    scale = {**inputs, "scale": np.array(2.0, np.float32)}
    assert tf1.run("scaled", scale)["y"].tolist() == [[7.0]]
    with pytest.raises(InvalidArgument, match="input size does not match signature: 0!=1"):
        tf1.validate("serving_default", {})  # no defaults: every input is required


def test_only_the_outputs_asked_for_are_fetched(tf1):
    # `y` alone needs no `scale`: the graph never computes `z`
    outputs = tf1.run("scaled", {"x": np.array([[1.0]], np.float32)}, ["y"])
    assert list(outputs) == ["y"]


def test_saved_model_tags_choose_the_meta_graph(tmp_path):
    path = write_half_plus_three_tf1(tmp_path / "1", tags=("serve", "gpu"))
    with pytest.raises(FailedPrecondition, match=r"no MetaGraphDef with tags \{serve\} "
                                                 r"\(it has \{gpu, serve\}\); choose one "
                                                 "with --saved_model_tags"):
        load_servable("m", 1, path)
    options = load_options(ServerConfig(saved_model_tags="serve,gpu"))
    assert load_servable("m", 1, path, options).run(
        "serving_default", {"x": np.array([[4.0]], np.float32)})["y"].tolist() == [[5.0]]


def test_the_session_config_from_the_flags_reaches_each_version(tf1_root):
    options = load_options(ServerConfig(tensorflow_intra_op_parallelism=3,
                                        tensorflow_inter_op_parallelism=2))
    assert isinstance(options, LoadOptions)
    servable = load_servable("m", 123, tf1_root / "00000123", options)
    config = servable.session._config  # the ConfigProto the Session was created with
    assert (config.intra_op_parallelism_threads, config.inter_op_parallelism_threads) == (3, 2)


def test_tf_serving_readme_quickstart_against_a_zero_padded_tf1_model(tf1_root):
    """TF Serving's README: `curl -d '{"instances": [1.0, 2.0, 5.0]}'` on the REST API,
    and Predict over gRPC with x of shape [1], both against `tfstack serve`."""
    with ServerProcess("--model_name=half_plus_three", f"--model_base_path={tf1_root}",
                       f"--rest_api_port={free_port()}") as server:
        answer = requests.post(f"{server.rest_url}/v1/models/half_plus_three:predict",
                               json={"instances": [1.0, 2.0, 5.0]}, timeout=30)
        assert answer.status_code == 200
        assert answer.json() == {"predictions": [3.5, 4.0, 5.5]}
        columnar = requests.post(f"{server.rest_url}/v1/models/half_plus_three:predict",
                                 json={"inputs": {"x": [1.0, 2.0, 5.0]}}, timeout=30)
        assert columnar.json() == {"outputs": [3.5, 4.0, 5.5]}
        regress = requests.post(f"{server.rest_url}/v1/models/half_plus_three:regress",
                                json={"signature_name": "regress_x_to_y",
                                      "examples": [{"x": 1.0}]}, timeout=30)
        assert regress.json() == {"results": [3.5]}
        with grpc.insecure_channel(server.target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            response = stub.Predict(predict_request(
                "half_plus_three", {"x": np.array([2.0], np.float32)}), timeout=30)
        assert tf.make_ndarray(response.outputs["y"]).tolist() == [4.0]
        assert response.model_spec.version.value == 123


def test_a_classify_signature_of_a_tf1_graph_answers(tf1):
    outputs = tf1.run("classify_x_to_y", {"inputs": np.array([example(4.0)], dtype=object)})
    assert outputs["scores"].tolist() == [[5.0]]
