"""Bearer-token auth, TLS from TF Serving's SSLConfig, and the access log, on the
real server process."""

from __future__ import annotations

import shutil
import subprocess

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.apis import (
    model_management_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)
from tensorflow_serving.config import model_server_config_pb2
from tritonclient.grpc import service_pb2, service_pb2_grpc

from tests.launcher import ServerProcess, free_port
from tests.messages import predict_request
from tests.serving.conftest import write_doubler

X = {"x": np.ones((1, 2), np.float32)}


@pytest.fixture(scope="module")
def model_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("secured")
    write_doubler(root / "1")
    return root


def test_bearer_token_guards_grpc_and_rest_but_not_health(model_root, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    with ServerProcess("--model_name=m", f"--model_base_path={model_root}",
                       f"--auth_token_file={token_file}", f"--rest_api_port={free_port()}",
                       "--access_log") as server:
        channel = grpc.insecure_channel(server.target)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(predict_request("m", X), timeout=30)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(predict_request("m", X), timeout=30,
                         metadata=[("authorization", "Bearer wrong")])
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        answer = stub.Predict(predict_request("m", X), timeout=30,
                              metadata=[("authorization", "Bearer s3cret")])
        assert tf.make_ndarray(answer.outputs["y"]).tolist() == [[2.0, 2.0]]
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        # ModelService too: an empty reload list would unload every model
        models = model_service_pb2_grpc.ModelServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            models.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(
                config=model_server_config_pb2.ModelServerConfig(
                    model_config_list={})), timeout=30)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        oip = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            oip.ModelMetadata(service_pb2.ModelMetadataRequest(name="m"), timeout=30)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        answer = stub.Predict(predict_request("m", X), timeout=30,
                              metadata=[("authorization", "Bearer s3cret")])  # still served
        url = f"{server.rest_url}/v1/models/m"
        assert requests.get(url, timeout=30).status_code == 401
        assert requests.get(f"{server.rest_url}/v2/models/m", timeout=30).status_code == 401
        for probe in ("live", "ready"):  # open, as gRPC health is
            assert requests.get(f"{server.rest_url}/v2/health/{probe}",
                                timeout=30).status_code == 200
        ok = requests.get(url, headers={"Authorization": "Bearer s3cret"}, timeout=30)
        assert ok.status_code == 200
        channel.close()
    access = [line for line in server.log if "serving.access" in line]
    assert any("Predict UNAUTHENTICATED" in line for line in access)
    assert any("Predict OK" in line for line in access)
    assert any("GET /v1/models/m 200" in line for line in access)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_from_ssl_config_file(model_root, tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem"),
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)
    key, cert = (tmp_path / "key.pem").read_text(), (tmp_path / "cert.pem").read_text()
    ssl_config = tmp_path / "ssl.config"
    ssl_config.write_text(f"server_key: {key!r}\nserver_cert: {cert!r}\n".replace("'", '"'))
    with ServerProcess("--model_name=m", f"--model_base_path={model_root}",
                       f"--ssl_config_file={ssl_config}") as server:
        port = server.target.rsplit(":", 1)[1]
        secure = grpc.secure_channel(
            f"localhost:{port}", grpc.ssl_channel_credentials(root_certificates=cert.encode()))
        stub = prediction_service_pb2_grpc.PredictionServiceStub(secure)
        answer = stub.Predict(predict_request("m", X), timeout=30)
        assert tf.make_ndarray(answer.outputs["total"]).tolist() == [2.0]
        plain = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(server.target))
        with pytest.raises(grpc.RpcError) as info:
            plain.Predict(predict_request("m", X), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        secure.close()
