"""`ServingClient`: calls any TF-Serving-compatible server over gRPC."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from clients.errors import ClientError
from clients.results import Classification, Label, VersionStatus
from export.contracts import CLASSIFIER, DEFAULT_SIGNATURE, Signature

DEFAULT_TARGET = "127.0.0.1:8500"
DEFAULT_DEADLINE = 10.0
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_STATES = get_model_status_pb2.ModelVersionStatus.State


def model_spec(model: str, signature: str = "", version: int | None = None,
               label: str | None = None) -> model_pb2.ModelSpec:
    """A ModelSpec naming a version by number or label (neither: the latest)."""
    spec = model_pb2.ModelSpec(name=model, signature_name=signature)
    if version is not None and label:
        raise ValueError("give a version or a version label, not both")
    if version is not None:
        spec.version.value = version
    elif label:
        spec.version_label = label
    return spec


def contract_tensor(signature: Signature, key: str, values) -> tensor_pb2.TensorProto:
    """`values` as a TensorProto of the dtype the wire contract declares for `key`."""
    dtype = tf.dtypes.as_dtype(types_pb2.DataType.Value(signature.input(key).dtype))
    return tf.make_tensor_proto(values, dtype=dtype)


class ServingClient:
    """A gRPC client of TF Serving's PredictionService and ModelService.

    Args:
        target: str. `host:port` of the server, or `dns:///name:port` to balance
            over every address of a name (round robin).
        deadline: float. Seconds each call may take before DEADLINE_EXCEEDED.

    Example:
    >>> with ServingClient("127.0.0.1:8500") as client:
    ...     client.classify(["shirt.png"])[0].top.name
    'Shirt'
    """

    def __init__(self, target: str = DEFAULT_TARGET, deadline: float = DEFAULT_DEADLINE):
        self.target = target
        self.deadline = deadline
        self._channel = grpc.insecure_channel(target, options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            # spread calls over every address a name resolves to (a headless Service)
            ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})),
        ])
        self._predict = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def __enter__(self) -> "ServingClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def _call(self, method, request):
        try:
            return method(request, timeout=self.deadline)
        except grpc.RpcError as e:
            raise ClientError.from_rpc_error(e, self.target) from e

    def predict(self, model: str, inputs: Mapping[str, object],
                signature: str = DEFAULT_SIGNATURE, version: int | None = None,
                label: str | None = None,
                output_filter: Sequence[str] = ()) -> dict[str, np.ndarray]:
        """Calls Predict; `inputs` maps tensor keys to arrays or TensorProtos."""
        request = predict_pb2.PredictRequest(
            model_spec=model_spec(model, signature, version, label),
            output_filter=list(output_filter),
        )
        for key, value in inputs.items():
            proto = value if isinstance(value, tensor_pb2.TensorProto) \
                else tf.make_tensor_proto(value)
            request.inputs[key].CopyFrom(proto)
        response = self._call(self._predict.Predict, request)
        return {key: tf.make_ndarray(proto) for key, proto in response.outputs.items()}

    def metadata(self, model: str, version: int | None = None, label: str | None = None):
        """The model's SignatureDefs, keyed by signature name (GetModelMetadata)."""
        request = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=model_spec(model, version=version, label=label),
            metadata_field=["signature_def"],
        )
        response = self._call(self._predict.GetModelMetadata, request)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signatures)
        return dict(signatures.signature_def)

    def status(self, model: str, version: int | None = None) -> list[VersionStatus]:
        """Each version's state (GetModelStatus)."""
        request = get_model_status_pb2.GetModelStatusRequest(
            model_spec=model_spec(model, version=version)
        )
        response = self._call(self._models.GetModelStatus, request)
        return [
            VersionStatus(s.version, _STATES.Name(s.state),
                          grpc.StatusCode(_code(s.status.error_code)).name,
                          s.status.error_message)
            for s in response.model_version_status
        ]

    def healthy(self, service: str = "") -> bool:
        """Whether the server reports SERVING for `service` ("" is the whole server)."""
        request = health_pb2.HealthCheckRequest(service=service)
        response = self._call(self._health.Check, request)
        return response.status == health_pb2.HealthCheckResponse.SERVING

    def classify(self, images: Sequence[bytes | str | Path], top_k: int = 5,
                 model: str = CLASSIFIER.model_name, version: int | None = None,
                 ) -> list[Classification]:
        """Top-k labels of each image, given as encoded bytes or file paths."""
        signature = CLASSIFIER.signature(DEFAULT_SIGNATURE)
        data = [image if isinstance(image, bytes) else Path(image).read_bytes()
                for image in images]
        key = signature.inputs[0].key
        outputs = self.predict(model, {key: contract_tensor(signature, key, data)},
                               DEFAULT_SIGNATURE, version)
        rows = zip(outputs["classes"], outputs["scores"], outputs["class_ids"], strict=True)
        return [
            Classification(tuple(
                Label(name.decode(), float(score), int(class_id))
                for name, score, class_id in zip(*(column[:top_k] for column in row), strict=True)
            ))
            for row in rows
        ]


def _code(value: int) -> tuple:
    return next(c.value for c in grpc.StatusCode if c.value[0] == value)
