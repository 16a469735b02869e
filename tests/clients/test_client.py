"""`ServingClient` against the real server process, and its errors."""

from __future__ import annotations

import socket

import grpc
import numpy as np
import pytest
import tensorflow as tf

from clients.channels import channel_target
from clients.client import ServingClient
from clients.codecs import ClassifierCodec, QACodec, TranslatorCodec, model_spec
from clients.errors import ClientError
from contract.endpoints import CLASSIFIER
from tests.messages import png


@pytest.fixture(scope="module")
def client(classifier_server):
    with ServingClient(classifier_server.target, deadline=60) as client:
        yield client


@pytest.mark.fashion
def test_classify_returns_typed_top_k_labels(client, fashion_test_images):
    images, labels = fashion_test_images
    results = client.classify([png(x) for x in images], top_k=3)
    assert len(results) == len(images)
    assert all(len(r.labels) == 3 for r in results)
    assert np.mean([r.top.class_id == label for r, label in zip(results, labels, strict=True)]) \
        > 0.6
    first = results[0]
    assert first.labels[0].score >= first.labels[1].score >= first.labels[2].score
    assert isinstance(first.top.name, str) and isinstance(first.top.class_id, int)


@pytest.mark.fashion
def test_classify_reads_files(client, tmp_path, fashion_test_images):
    path = tmp_path / "boot.png"
    path.write_bytes(png(fashion_test_images[0][0]))
    by_path = client.classify([path])[0]
    by_bytes = client.classify([path.read_bytes()])[0]
    assert by_path == by_bytes


@pytest.mark.fashion
def test_predict_metadata_and_status(client):
    outputs = client.predict("classifier", {"pixels": np.zeros((2, 28, 28, 1), np.float32)},
                             signature="predict_pixels", output_filter=["class_ids"])
    assert list(outputs) == ["class_ids"] and outputs["class_ids"].shape == (2, 5)
    signatures = client.metadata("classifier")
    assert {"serving_default", "predict_pixels"} <= set(signatures)
    [status] = client.status("classifier")
    assert (status.version, status.state, status.error_code) == (1, "AVAILABLE", "OK")
    assert client.healthy() and client.healthy("tensorflow.serving.PredictionService")


@pytest.mark.fashion
def test_server_errors_become_client_errors_with_status(client):
    with pytest.raises(ClientError) as info:
        client.classify([b"not an image"])
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert isinstance(info.value.__cause__, grpc.RpcError)
    with pytest.raises(ClientError) as info:
        client.status("resnet")
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    assert "resnet" in str(info.value)


def test_unreachable_server_says_how_to_start_one():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with ServingClient(f"127.0.0.1:{port}", deadline=5) as client:
        with pytest.raises(ClientError) as info:
            client.metadata("classifier")
    assert info.value.code == grpc.StatusCode.UNAVAILABLE
    assert f"cannot reach a model server at 127.0.0.1:{port}" in str(info.value)
    assert "tfstack serve" in str(info.value)


def test_model_spec_takes_a_version_or_a_label():
    assert model_spec("m", version=3).version.value == 3
    assert model_spec("m", label="stable").version_label == "stable"
    assert not model_spec("m").HasField("version")
    with pytest.raises(ValueError, match="not both"):
        model_spec("m", version=1, label="stable")


def test_channel_target_for_one_or_several_addresses():
    assert channel_target("127.0.0.1:8500") == "127.0.0.1:8500"
    assert channel_target("dns:///pods:8500") == "dns:///pods:8500"
    assert channel_target("10.0.0.1:8500, 10.0.0.2:8500") == "ipv4:10.0.0.1:8500,10.0.0.2:8500"
    with pytest.raises(ValueError, match="dns:///name:port"):
        channel_target("a.example:8500,b.example:8500")


def test_each_codec_encodes_its_contracts_keys_dtypes_and_signature():
    request = TranslatorCodec(greedy=True, version=3).encode(["Guten Morgen"])
    assert (request.model_spec.name, request.model_spec.signature_name) == ("translator",
                                                                           "greedy")
    assert request.model_spec.version.value == 3
    assert request.inputs["text"].dtype == tf.string.as_datatype_enum
    request = QACodec(label="stable").encode([("Mary went home.", "Where is Mary?")])
    assert set(request.inputs) == {"story", "question"}
    assert request.model_spec.version_label == "stable"
    request = ClassifierCodec().encode([b"\x89PNG"])
    assert list(request.inputs) == [CLASSIFIER.signature("serving_default").inputs[0].key]


def test_calls_are_spread_round_robin_over_every_address(tmp_path):
    from tests.launcher import ServerProcess
    from tests.serving.conftest import write_doubler

    write_doubler(tmp_path / "1")
    serve = ("--model_name=m", f"--model_base_path={tmp_path}", "--access_log")
    with ServerProcess(*serve) as first, ServerProcess(*serve) as second:
        ports = [server.target.rsplit(":", 1)[1] for server in (first, second)]
        with ServingClient(f"127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}") as client:
            for _ in range(10):
                client.predict("m", {"x": np.ones((1, 2), np.float32)})
    for server in (first, second):
        assert sum("Predict OK" in line for line in server.log) >= 3
