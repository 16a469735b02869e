"""Config changes while serving: HandleReloadConfigRequest over gRPC, and a server
process picking up new versions and an edited config file by polling."""

from __future__ import annotations

import shutil
import time

import grpc
import numpy as np
import pytest
from google.protobuf import text_format
from tensorflow_serving.apis import (
    model_management_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)
from tensorflow_serving.config import model_server_config_pb2

from serving.config import ServerConfig, model_configs
from serving.repository import ModelRepository
from tests.launcher import ServerProcess
from tests.messages import predict_request
from tests.serving.conftest import InProcessServer, write_doubler

X = {"x": np.ones((1, 2), np.float32)}


def reload_request(text: str) -> model_management_pb2.ReloadConfigRequest:
    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    return model_management_pb2.ReloadConfigRequest(config=config)


def test_reload_config_request_swaps_models(tmp_path):
    write_doubler(tmp_path / "a" / "1")
    write_doubler(tmp_path / "b" / "3")
    models = model_configs(ServerConfig(model_name="a", model_base_path=str(tmp_path / "a")))
    # as compose runs TF Serving: a new label may name a version still loading
    with InProcessServer(ModelRepository(models, allow_labels_for_unavailable=True)) as server:
        service = model_service_pb2_grpc.ModelServiceStub(server.channel)
        predict = prediction_service_pb2_grpc.PredictionServiceStub(server.channel)
        response = service.HandleReloadConfigRequest(reload_request(
            f'model_config_list {{ config {{ name: "b" base_path: "{tmp_path / "b"}" '
            'model_platform: "tensorflow" version_labels { key: "stable" value: 3 } } }'),
            timeout=60)
        assert response.status.error_code == 0
        answer = predict.Predict(predict_request("b", X, label="stable"), timeout=30)
        assert answer.model_spec.version.value == 3
        with pytest.raises(grpc.RpcError) as info:
            predict.Predict(predict_request("a", X), timeout=30)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as info:
            service.HandleReloadConfigRequest(reload_request(
                f'model_config_list {{ config {{ name: "b" base_path: "{tmp_path / "b"}" '
                'model_platform: "tensorflow" version_labels { key: "stable" value: 9 } } }'),
                timeout=60)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        # moving a label needs its new version AVAILABLE, flag or not (server_core.cc)
        assert info.value.details() == ("Request to assign label to version 9 of model b, "
                                        "which is not currently available for inference")
        assert predict.Predict(predict_request("b", X), timeout=30).model_spec.version.value == 3


def wait_for(condition, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_server_process_picks_up_versions_and_config_edits(tmp_path):
    write_doubler(tmp_path / "a" / "1")
    write_doubler(tmp_path / "b" / "1")
    config_file = tmp_path / "models.config"
    config_file.write_text(
        f'model_config_list {{ config {{ name: "a" base_path: "{tmp_path / "a"}" '
        'model_platform: "tensorflow" } }')
    with ServerProcess(f"--model_config_file={config_file}",
                       "--model_config_file_poll_wait_seconds=0.2",
                       "--file_system_poll_wait_seconds=0.2") as server:
        channel = grpc.insecure_channel(server.target)
        predict = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def version_of(model: str) -> int | None:
            try:
                return predict.Predict(predict_request(model, X), timeout=30) \
                    .model_spec.version.value
            except grpc.RpcError:
                return None

        assert version_of("a") == 1
        shutil.copytree(tmp_path / "a" / "1", tmp_path / "a" / "2")
        assert wait_for(lambda: version_of("a") == 2)
        config_file.write_text(
            f'model_config_list {{ config {{ name: "b" base_path: "{tmp_path / "b"}" '
            'model_platform: "tensorflow" } }')
        assert wait_for(lambda: version_of("b") == 1 and version_of("a") is None)
        config_file.write_text("model_config_list { config { nam")  # broken edit: ignored
        assert wait_for(lambda: any("rejected, keeping the current one" in line
                                    for line in server.log))  # the edit was read
        assert version_of("b") == 1
        channel.close()
    assert server.returncode == 0
