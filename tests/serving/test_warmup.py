"""Warm-up at load, as TF Serving replays it (servables/tensorflow/saved_model_warmup*.cc):
good records of every kind run before serving; a failing record fails the load."""

from __future__ import annotations

import numpy as np
import pytest
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    input_pb2,
    model_pb2,
    prediction_log_pb2,
    regression_pb2,
)

from contract.defaults import MAX_WARMUP_RECORDS
from export.warmup import predict_log, write_warmup
from serving.config import ServerConfig, model_configs
from serving.errors import InvalidArgument, NotFound, Unimplemented
from serving.inference import CLASSIFY_METHOD, REGRESS_METHOD
from serving.repository import ModelRepository
from serving.servable import load_servable
from serving.warmup import replay_warmup
from tests.serving.conftest import write_doubler
from tests.serving.half_plus import example, write_half_plus_three_tf1


def test_good_records_are_replayed(tmp_path):
    path = write_doubler(tmp_path / "1")
    write_warmup(path, [predict_log("m", "serving_default", {"x": np.ones((1, 2), "f4")}),
                        predict_log("m", "shout", {"text": np.array([b"a"])})])
    assert replay_warmup(load_servable("m", 1, path)) == 2


def test_model_without_records_needs_no_warmup(tmp_path):
    assert replay_warmup(load_servable("m", 1, write_doubler(tmp_path / "1"))) == 0


def test_failing_record_fails_the_version_and_older_versions_serve(tmp_path):
    write_doubler(tmp_path / "1")
    path = write_doubler(tmp_path / "2")
    write_warmup(path, [predict_log("m", "serving_default", {"x": np.ones(5, "f4")})])
    model = model_configs(ServerConfig(model_name="m", model_base_path=str(tmp_path)))[0]
    model.model_version_policy.all.SetInParent()
    repository = ModelRepository([model])
    repository.poll()
    states = {s.version: s for s in repository.states("m")}
    assert states[1].state == "AVAILABLE"
    assert states[2].state == "END"
    assert "warm-up record 0" in str(states[2].error)
    assert "Invalid reduction dimension" in str(states[2].error)  # the graph's error
    assert repository.servable("m").version == 1
    with pytest.raises(NotFound):
        repository.servable("m", version=2)


def _examples(*xs: float) -> input_pb2.Input:
    return input_pb2.Input(example_list=input_pb2.ExampleList(
        examples=[example_pb2.Example.FromString(example(x)) for x in xs]))


def _counting(servable):
    """The servable, with each signature run counted (the real run)."""
    runs, run = [], servable.run

    def counted(signature, *args, **kwargs):
        runs.append(signature)
        return run(signature, *args, **kwargs)

    servable.run = counted
    return servable, runs


def test_classify_regress_and_multi_inference_records_are_replayed(tmp_path):
    # saved_model_warmup.cc replays each kind of PredictionLog but streamed and session runs
    path = write_half_plus_three_tf1(tmp_path / "1")
    spec = model_pb2.ModelSpec(name="m", signature_name="classify_x_to_y")
    regress = model_pb2.ModelSpec(name="m", signature_name="regress_x_to_y")
    write_warmup(path, [
        prediction_log_pb2.PredictionLog(classify_log=prediction_log_pb2.ClassifyLog(
            request=classification_pb2.ClassificationRequest(
                model_spec=spec, input=_examples(1.0)))),
        prediction_log_pb2.PredictionLog(regress_log=prediction_log_pb2.RegressLog(
            request=regression_pb2.RegressionRequest(model_spec=regress,
                                                     input=_examples(2.0, 3.0)))),
        prediction_log_pb2.PredictionLog(multi_inference_log=prediction_log_pb2.MultiInferenceLog(
            request=inference_pb2.MultiInferenceRequest(input=_examples(4.0), tasks=[
                inference_pb2.InferenceTask(model_spec=spec, method_name=CLASSIFY_METHOD),
                inference_pb2.InferenceTask(model_spec=regress, method_name=REGRESS_METHOD),
            ]))),
    ])
    servable, runs = _counting(load_servable("m", 1, path))
    assert replay_warmup(servable, iterations=2) == 3
    assert runs == ["classify_x_to_y"] * 2 + ["regress_x_to_y"] * 2 + [
        "classify_x_to_y", "regress_x_to_y"] * 2  # each record, twice


def test_more_than_a_thousand_records_fail_the_load_as_on_tf_serving(tmp_path):
    path = write_doubler(tmp_path / "1")
    record = predict_log("m", "serving_default", {"x": np.ones((1, 2), "f4")})
    write_warmup(path, [record] * (MAX_WARMUP_RECORDS + 1))
    servable, runs = _counting(load_servable("m", 1, path))
    with pytest.raises(InvalidArgument, match=r"Number of warmup records exceeds the maximum "
                                              r"\(1000\) at .*tf_serving_warmup_requests"):
        replay_warmup(servable)
    assert len(runs) == MAX_WARMUP_RECORDS  # refused before the 1001st ran, never cut silently


def test_a_session_run_record_is_unimplemented(tmp_path):
    path = write_doubler(tmp_path / "1")
    write_warmup(path, [prediction_log_pb2.PredictionLog(
        session_run_log=prediction_log_pb2.SessionRunLog())])
    with pytest.raises(Unimplemented, match="Unsupported log_type for warmup: session_run_log"):
        replay_warmup(load_servable("m", 1, path))
