"""TF Serving's request logging (`logging_config` in the model config): sampled
PredictionLog records with their LogMetadata in TFRecord files, bounded in memory and
on disk, never failing a request; and captured traffic replayed as the next version's
warm-up (core/server_request_logger.cc, config/logging_config.proto)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import (
    classification_pb2,
    input_pb2,
    prediction_log_pb2,
    prediction_service_pb2_grpc,
)

from serving.metrics import DEFAULT_PATH
from tests.launcher import ServerProcess, free_port
from tests.messages import predict_request
from tests.serving.conftest import write_doubler, write_example_model
from tfstack.command import main as tfstack

X = np.array([[1.0, 2.0]], np.float32)


def models_config(path: Path, models: dict[str, Path], logging: str) -> Path:
    path.write_text("model_config_list {" + "".join(
        f' config {{ name: "{name}" base_path: "{base}" model_platform: "tensorflow" '
        f'{logging} }}' for name, base in models.items()) + " }")
    return path


def logging_config(prefix: Path, rate: float = 1.0, kind: str = "tfrecord") -> str:
    return (f'logging_config {{ log_collector_config {{ type: "{kind}" '
            f'filename_prefix: "{prefix}" }} sampling_config {{ sampling_rate: {rate} }} }}')


def records(prefix: Path) -> list[prediction_log_pb2.PredictionLog]:
    files = sorted(prefix.parent.glob(f"{prefix.name}-*.tfrecord"))
    return [prediction_log_pb2.PredictionLog.FromString(raw.numpy())
            for raw in tf.data.TFRecordDataset([str(f) for f in files])]


def log_counts(server: ServerProcess) -> dict[tuple[str, str], float]:
    text = requests.get(f"{server.rest_url}{DEFAULT_PATH}", timeout=30).text
    return {(s.labels["model_name"], s.labels["outcome"]): s.value
            for family in text_string_to_metric_families(text) for s in family.samples
            if s.name == ":tensorflow:serving:request_log_count_total"}


def serve(config: Path, tmp_path: Path, *flags: str) -> ServerProcess:
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text("prometheus_config { enable: true }")
    return ServerProcess(f"--model_config_file={config}", f"--rest_api_port={free_port()}",
                         f"--monitoring_config_file={monitoring}", *flags)


def test_predict_and_classify_are_logged_with_their_metadata(tmp_path):
    write_doubler(tmp_path / "m" / "1")
    write_example_model(tmp_path / "ex" / "1")
    prefix = tmp_path / "logs" / "traffic"
    config = models_config(tmp_path / "models.config",
                           {"m": tmp_path / "m", "ex": tmp_path / "ex"}, logging_config(prefix))
    example = input_pb2.Input()
    example.example_list.examples.add().features.feature["x"].float_list.value.append(2.0)
    with serve(config, tmp_path) as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(server.target))
        for _ in range(3):
            stub.Predict(predict_request("m", {"x": X}), timeout=30)
        stub.Classify(classification_pb2.ClassificationRequest(
            model_spec={"name": "ex"}, input=example), timeout=30)
        with pytest.raises(grpc.RpcError):  # a failed request is not logged
            stub.Predict(predict_request("m", {"nope": X}), timeout=30)
        rest = f"{server.rest_url}/v1/models"  # REST calls too, as TF Serving logs them
        assert requests.post(f"{rest}/m:predict", json={"instances": [[5.0, 6.0]]},
                             timeout=30).ok
        assert requests.post(f"{rest}/ex:classify", json={"examples": [{"x": [1.0]}]},
                             timeout=30).ok
        server.stop()  # the queue is written out before the process ends
    logged = records(prefix)
    assert [r.WhichOneof("log_type") for r in logged] == (
        ["predict_log"] * 3 + ["classify_log"] + ["predict_log", "classify_log"])
    over_rest = logged[4].predict_log
    np.testing.assert_array_equal(tf.make_ndarray(over_rest.request.inputs["x"]),
                                  [[5.0, 6.0]])
    np.testing.assert_array_equal(tf.make_ndarray(over_rest.response.outputs["y"]),
                                  [[10.0, 12.0]])
    assert logged[5].classify_log.request.input.example_list.examples[0].features.feature[
        "x"].float_list.value == [1.0]
    first = logged[0]
    assert first.log_metadata.model_spec.name == "m"
    assert first.log_metadata.model_spec.version.value == 1
    assert first.log_metadata.model_spec.signature_name == "serving_default"
    assert list(first.log_metadata.saved_model_tags) == ["serve"]
    assert first.log_metadata.sampling_config.sampling_rate == 1.0
    np.testing.assert_array_equal(tf.make_ndarray(first.predict_log.request.inputs["x"]), X)
    np.testing.assert_array_equal(tf.make_ndarray(first.predict_log.response.outputs["y"]),
                                  2 * X)
    assert len(logged[3].classify_log.response.result.classifications) == 1


def test_captured_traffic_warms_up_the_next_version(tmp_path, capsys):
    write_doubler(tmp_path / "m" / "1")
    prefix = tmp_path / "logs" / "m"
    config = models_config(tmp_path / "models.config", {"m": tmp_path / "m"},
                           logging_config(prefix))
    with serve(config, tmp_path, "--file_system_poll_wait_seconds=0.2") as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(server.target))
        for rows in (1, 2, 3):
            stub.Predict(predict_request("m", {"x": np.ones((rows, 2), np.float32)}),
                         timeout=30)
        server.stop()
    shutil.copytree(tmp_path / "m" / "1", tmp_path / "next")
    logs = sorted(str(p) for p in prefix.parent.glob("m-*.tfrecord"))
    assert tfstack(["warmup", str(tmp_path / "next"), *logs, "--model", "m"]) == 0
    assert "3 warm-up records" in capsys.readouterr().out
    (tmp_path / "next").rename(tmp_path / "m" / "2")
    with ServerProcess("--model_name=m", f"--model_base_path={tmp_path / 'm'}") as server:
        server.stop()
    assert any("version 2: replayed 3 warm-up records" in line for line in server.log)


def test_sampling_at_zero_logs_nothing_and_a_missing_collector_is_refused(tmp_path):
    write_doubler(tmp_path / "m" / "1")
    prefix = tmp_path / "logs" / "m"
    config = models_config(tmp_path / "models.config", {"m": tmp_path / "m"},
                           logging_config(prefix, rate=0.0))
    with serve(config, tmp_path) as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(server.target))
        for _ in range(20):
            stub.Predict(predict_request("m", {"x": X}), timeout=30)
        server.stop()
    assert records(prefix) == []
    refused = models_config(tmp_path / "other.config", {"m": tmp_path / "m"},
                            logging_config(prefix, kind="bigquery"))
    with pytest.raises(RuntimeError, match="server did not start") as info:
        with ServerProcess(f"--model_config_file={refused}"):
            pass
    assert "Cannot find LogCollector::Factory for type: bigquery" in str(info.value)


def test_a_failing_writer_never_fails_a_request_and_is_counted(tmp_path):
    write_doubler(tmp_path / "m" / "1")
    (tmp_path / "file").write_text("a file, not a folder")
    prefix = tmp_path / "file" / "logs"  # every open fails: ENOTDIR
    config = models_config(tmp_path / "models.config", {"m": tmp_path / "m"},
                           logging_config(prefix))
    with serve(config, tmp_path) as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(server.target))
        for _ in range(3):
            answer = stub.Predict(predict_request("m", {"x": X}), timeout=30)
            assert tf.make_ndarray(answer.outputs["y"]).tolist() == [[2.0, 4.0]]
        deadline = time.monotonic() + 60  # the writer's thread counts after the answers
        while log_counts(server).get(("m", "failed")) != 3:
            assert time.monotonic() < deadline, log_counts(server)
            time.sleep(0.05)


def test_files_rotate_at_their_size_and_only_the_newest_are_kept(tmp_path):
    write_doubler(tmp_path / "m" / "1")
    prefix = tmp_path / "logs" / "m"
    config = models_config(tmp_path / "models.config", {"m": tmp_path / "m"},
                           logging_config(prefix))
    with serve(config, tmp_path, "--request_log_max_file_bytes=1",
               "--request_log_max_files=2") as server:  # a file a record, two kept
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(server.target))
        for value in range(5):
            stub.Predict(predict_request("m", {"x": np.full((1, 2), value, np.float32)}),
                         timeout=30)
        server.stop()
    files = sorted(p.name for p in prefix.parent.glob("m-*.tfrecord"))
    assert files == ["m-00004.tfrecord", "m-00005.tfrecord"]
    kept = [tf.make_ndarray(r.predict_log.request.inputs["x"])[0, 0] for r in records(prefix)]
    assert kept == [3.0, 4.0]


def test_records_past_the_queued_bytes_are_dropped_not_held(tmp_path):
    """The queue is bounded by bytes too: a record holds a whole request and answer."""
    from google.protobuf import text_format

    from serving.config import ModelConfig
    from serving.request_logging import LogLimits, RequestLogger

    outcomes = []
    logger = RequestLogger(LogLimits(max_queued_bytes=1000),
                           lambda model, outcome: outcomes.append(outcome))
    logger.update([text_format.Parse(
        f'name: "m" base_path: "/m" {logging_config(tmp_path / "logs" / "m")}',
        ModelConfig())])
    for rows in (1, 1000):  # about 50 bytes, then about 8 kB
        request = predict_request("m", {"x": np.ones((rows, 2), np.float32)})
        logger.log("m", 1, "serving_default", ["serve"], "predict_log",
                   lambda request=request: prediction_log_pb2.PredictLog(request=request),
                   request.ByteSize)
    logger.close()  # writes out what was queued
    assert sorted(outcomes) == ["dropped", "written"]
    assert len(records(tmp_path / "logs" / "m")) == 1


def test_more_warm_up_records_than_tf_serving_replays_are_refused(tmp_path, capsys):
    # saved_model_warmup_util.cc: a file over WarmupConsts::kMaxNumRecords fails the load
    with pytest.raises(SystemExit) as exit_:
        tfstack(["warmup", str(tmp_path), str(tmp_path / "m-00001.tfrecord"),
                 "--max-records", "1001"])
    assert exit_.value.code == 2
    assert "at most 1000, which TF Serving replays; got 1001" in capsys.readouterr().err
