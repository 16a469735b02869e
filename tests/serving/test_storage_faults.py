"""Storage that misbehaves under the model repository: a read that hangs (a FIFO
standing in for a hung NFS or gcsfuse read), a copy that completes after a failed
load, a failure that passes, and a saved_model.pb no protocol buffer can be. Each
is this version's fault: polling, startup, other models and exit go on.

TF Serving retries a failed load (--max_num_load_retries, --load_retry_interval_micros,
model_servers/main.cc) and skips what it cannot read under a base path
(sources/storage_path/file_system_storage_path_source.cc)."""

from __future__ import annotations

import os
import shutil
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import prediction_service_pb2_grpc

import serving.repository as repository_module
from serving.config import ModelConfig
from serving.repository import LoadPolicy, ModelRepository
from tests.launcher import ServerProcess
from tests.messages import predict_request


class Scaled(tf.Module):
    """A model with a variable, so loading it reads variables/variables.data-*."""

    def __init__(self):
        self.w = tf.Variable(3.0)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def scale(self, x):
        return {"y": x * self.w}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("scaled") / "1"
    module = Scaled()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.scale})
    return path


def config(name: str, base) -> ModelConfig:
    return text_format.Parse(f'name: "{name}" base_path: "{base}" model_platform: "tensorflow"',
                             ModelConfig())


def states(repository: ModelRepository, name: str) -> dict[int, str]:
    return {s.version: s.state for s in repository.states(name)}


def wait_until(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.05)


def data_file(version):
    return next((version / "variables").glob("variables.data-*"))


def hang_reads(version) -> bytes:
    """Replaces the version's variable data by a FIFO: a read blocks until someone
    writes. Returns the real bytes, to write once the test is done."""
    data = data_file(version)
    content = data.read_bytes()
    data.unlink()
    os.mkfifo(data)
    return content


def release(version, content: bytes) -> None:
    """Unblocks the reader: writes the bytes, or as many as it reads before it closes
    its end (a reader that gives up early is unblocked all the same)."""
    try:
        with open(data_file(version), "wb") as fifo:
            fifo.write(content)
    except BrokenPipeError:
        pass


def test_a_hung_read_is_reported_and_never_holds_up_other_models(saved, tmp_path):
    hung, good = tmp_path / "hung", tmp_path / "good"
    shutil.copytree(saved, hung / "1")
    shutil.copytree(saved, good / "1")
    content = hang_reads(hung / "1")
    repository = ModelRepository([config("hung", hung), config("good", good)],
                                 policy=LoadPolicy(wait_seconds=0.5))
    try:
        repository.poll()  # returns though the read never does
        assert states(repository, "hung") == {1: "LOADING"}
        assert states(repository, "good") == {1: "AVAILABLE"}
        repository.poll()  # the load in progress is not started twice
        assert states(repository, "hung") == {1: "LOADING"}
    finally:
        release(hung / "1", content)
    wait_until(lambda: states(repository, "hung")[1] != "LOADING")  # it ended


def test_a_server_starts_serves_and_exits_with_a_read_hung_for_good(saved, tmp_path):
    shutil.copytree(saved, tmp_path / "hung" / "1")
    shutil.copytree(saved, tmp_path / "good" / "1")
    hang_reads(tmp_path / "hung" / "1")  # never released
    (tmp_path / "models.config").write_text("model_config_list {" + "".join(
        f' config {{ name: "{n}" base_path: "{tmp_path / n}" model_platform: "tensorflow" }}'
        for n in ("hung", "good")) + " }")
    with ServerProcess(f"--model_config_file={tmp_path / 'models.config'}",
                       "--max_load_wait_seconds=1", "--drain_seconds=0") as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(server.target))
        answer = stub.Predict(predict_request("good", {"x": np.array([2.0], np.float32)}),
                              timeout=30)
        assert tf.make_ndarray(answer.outputs["y"]).tolist() == [6.0]
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(predict_request("hung", {"x": np.array([2.0], np.float32)}),
                         timeout=30)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert server.stop(timeout=60) == 0  # the hung load does not hold up the exit
    assert any("still loading" in line for line in server.log)


def test_a_version_whose_files_change_after_a_failed_load_is_tried_again(saved, tmp_path):
    """A copy still in progress when the version is first seen: its variable data is
    short, then completes in place (no file added, saved_model.pb untouched)."""
    shutil.copytree(saved, tmp_path / "m" / "1")
    data = data_file(tmp_path / "m" / "1")
    content = data.read_bytes()
    data.write_bytes(content[:len(content) // 2])
    repository = ModelRepository([config("m", tmp_path / "m")],
                                 policy=LoadPolicy(max_retries=0))  # changes only
    repository.poll()
    assert states(repository, "m") == {1: "END"}
    repository.poll()
    assert states(repository, "m") == {1: "END"}  # nothing changed: not retried
    data.write_bytes(content)  # the copy completes
    repository.poll()
    assert states(repository, "m") == {1: "AVAILABLE"}


@pytest.mark.parametrize("interval, retried", [(0.0, True), (3600.0, False)])
def test_a_failed_load_is_retried_after_the_retry_interval(saved, tmp_path, monkeypatch,
                                                          interval, retried):
    shutil.copytree(saved, tmp_path / "m" / "1")
    real, calls = repository_module.load_servable, []

    def load_once_failing(name, version, path, options):  # storage that fails once
        calls.append(version)
        if len(calls) == 1:
            raise OSError("Transport endpoint is not connected")
        return real(name, version, path, options)

    monkeypatch.setattr(repository_module, "load_servable", load_once_failing)
    repository = ModelRepository([config("m", tmp_path / "m")], policy=LoadPolicy(
        max_retries=2, retry_interval_seconds=interval))
    repository.poll()
    [failed] = repository.states("m")
    assert failed.state == "END" and "Transport endpoint" in str(failed.error)
    repository.poll()
    assert states(repository, "m") == {1: "AVAILABLE" if retried else "END"}


def test_retries_stop_after_max_num_load_retries(saved, tmp_path, monkeypatch):
    shutil.copytree(saved, tmp_path / "m" / "1")
    calls = []

    def always_failing(name, version, path, options):
        calls.append(version)
        raise OSError("Input/output error")

    monkeypatch.setattr(repository_module, "load_servable", always_failing)
    repository = ModelRepository([config("m", tmp_path / "m")], policy=LoadPolicy(
        max_retries=2, retry_interval_seconds=0))
    for _ in range(6):
        repository.poll()
    assert len(calls) == 3  # the first load and two retries


def test_a_saved_model_pb_no_protocol_buffer_can_be_is_refused_unread(tmp_path):
    version = tmp_path / "m" / "1"
    version.mkdir(parents=True)
    with open(version / "saved_model.pb", "wb") as pb:
        pb.truncate(3 * 2**30)  # 3 GiB, sparse: reading it would take 3 GiB of memory
    repository = ModelRepository([config("m", tmp_path / "m")])
    repository.poll()
    [refused] = repository.states("m")
    assert refused.state == "END"
    assert "3,221,225,472 bytes, more than the 2,147,483,647" in str(refused.error)

