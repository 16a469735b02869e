"""gRPC adapters: TF Serving's PredictionService and ModelService on grpc.aio.

Each method only converts protos to the data plane's arguments and back; every
ServingError becomes its gRPC status in `_answers_errors`, the one place that maps.
"""

from __future__ import annotations

import functools
import logging

import grpc
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    status_pb2,
)

from serving.dataplane import SIGNATURE_DEF_FIELD, DataPlane
from serving.errors import InvalidArgument, ServingError
from serving.servable import Servable

logger = logging.getLogger(__name__)
_STATES = get_model_status_pb2.ModelVersionStatus.State


def _answers_errors(method):
    """Turns ServingError into its gRPC status, and any other exception into
    INTERNAL, so no request can take the server down."""

    @functools.wraps(method)
    async def wrapper(self, request, context: grpc.aio.ServicerContext):
        try:
            return await method(self, request, context)
        except ServingError as e:
            await context.abort(e.code, str(e))
        except Exception as e:  # noqa: BLE001 - the boundary of a request
            logger.exception("%s failed", method.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}")

    return wrapper


def _version(spec: model_pb2.ModelSpec) -> tuple[int | None, str | None]:
    choice = spec.WhichOneof("version_choice")
    if choice == "version":
        return spec.version.value, None
    if choice == "version_label":
        return None, spec.version_label
    return None, None


def _model_spec(servable: Servable, signature: str = "") -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=servable.name, signature_name=signature)
    spec.version.value = servable.version
    return spec


def _to_arrays(inputs) -> dict:
    arrays = {}
    for key, proto in inputs.items():
        try:
            arrays[key] = tf.make_ndarray(proto)
        except (TypeError, ValueError) as e:
            raise InvalidArgument(f"input '{key}' is not a well-formed TensorProto: {e}") from e
    return arrays


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """`tensorflow.serving.PredictionService`: Predict and GetModelMetadata."""

    def __init__(self, dataplane: DataPlane):
        self._dataplane = dataplane

    @_answers_errors
    async def Predict(self, request: predict_pb2.PredictRequest, context):
        version, label = _version(request.model_spec)
        signature = request.model_spec.signature_name or "serving_default"
        servable, outputs = await self._dataplane.predict(
            request.model_spec.name, version, label, signature,
            _to_arrays(request.inputs), list(request.output_filter),
        )
        response = predict_pb2.PredictResponse(model_spec=_model_spec(servable, signature))
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response

    @_answers_errors
    async def GetModelMetadata(self, request, context):
        version, label = _version(request.model_spec)
        servable = self._dataplane.metadata(
            request.model_spec.name, version, label, list(request.metadata_field)
        )
        signatures = get_model_metadata_pb2.SignatureDefMap()
        for key, signature in servable.signature_defs.items():
            if key in servable.functions:
                signatures.signature_def[key].CopyFrom(signature)
        response = get_model_metadata_pb2.GetModelMetadataResponse(
            model_spec=_model_spec(servable)
        )
        response.metadata[SIGNATURE_DEF_FIELD].Pack(signatures)
        return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """`tensorflow.serving.ModelService`: GetModelStatus."""

    def __init__(self, dataplane: DataPlane):
        self._dataplane = dataplane

    @_answers_errors
    async def GetModelStatus(self, request, context):
        version, label = _version(request.model_spec)
        if label:
            version = self._dataplane.repository.servable(
                request.model_spec.name, None, label).version
        response = get_model_status_pb2.GetModelStatusResponse()
        for state in self._dataplane.status(request.model_spec.name, version):
            status = status_pb2.StatusProto()
            if state.error is not None:
                status.error_code = state.error.code.value[0]
                status.error_message = str(state.error)
            response.model_version_status.add(
                version=state.version, state=_STATES.Value(state.state), status=status
            )
        return response

