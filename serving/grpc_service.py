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
    model_management_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    status_pb2,
)

from serving.dataplane import DataPlane
from serving.errors import InvalidArgument, ServingError
from serving.responses import metadata_response, model_spec, status_response

logger = logging.getLogger(__name__)


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
        response = predict_pb2.PredictResponse(model_spec=model_spec(servable, signature))
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response

    @_answers_errors
    async def GetModelMetadata(self, request, context):
        version, label = _version(request.model_spec)
        servable = self._dataplane.metadata(
            request.model_spec.name, version, label, list(request.metadata_field)
        )
        return metadata_response(servable)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """`tensorflow.serving.ModelService`: GetModelStatus and HandleReloadConfigRequest."""

    def __init__(self, dataplane: DataPlane):
        self._dataplane = dataplane

    @_answers_errors
    async def GetModelStatus(self, request, context):
        version, label = _version(request.model_spec)
        return status_response(self._dataplane.status(request.model_spec.name, version, label))

    @_answers_errors
    async def HandleReloadConfigRequest(self, request, context):
        if request.config.WhichOneof("config") != "model_config_list":
            raise InvalidArgument("ReloadConfigRequest.config needs a model_config_list; "
                                  "custom_model_config is not supported")
        await self._dataplane.reload(list(request.config.model_config_list.config))
        return model_management_pb2.ReloadConfigResponse(status=status_pb2.StatusProto())
