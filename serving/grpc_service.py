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
    classification_pb2,
    inference_pb2,
    model_management_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
    status_pb2,
)

from serving.dataplane import DataPlane
from serving.errors import InvalidArgument, ServingError
from serving.inference import CLASSIFY_METHOD, REGRESS_METHOD
from serving.responses import metadata_response, model_spec, status_response
from serving.tensor_protos import to_arrays

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


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """`tensorflow.serving.PredictionService`: Predict, Classify, Regress,
    MultiInference and GetModelMetadata."""

    def __init__(self, dataplane: DataPlane):
        self._dataplane = dataplane

    @_answers_errors
    async def Predict(self, request: predict_pb2.PredictRequest, context):
        version, label = _version(request.model_spec)
        signature = request.model_spec.signature_name or "serving_default"
        servable, outputs = await self._dataplane.predict(
            request.model_spec.name, version, label, signature,
            to_arrays(request.inputs, self._dataplane.max_request_tensor_bytes),
            list(request.output_filter),
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


    @_answers_errors
    async def Classify(self, request, context):
        return await self._infer(CLASSIFY_METHOD, request,
                                 classification_pb2.ClassificationResponse)

    @_answers_errors
    async def Regress(self, request, context):
        return await self._infer(REGRESS_METHOD, request, regression_pb2.RegressionResponse)

    async def _infer(self, method: str, request, response_type):
        version, label = _version(request.model_spec)
        signature = request.model_spec.signature_name or "serving_default"
        servable, result = await self._dataplane.infer(
            method, request.model_spec.name, version, label, signature, request.input)
        return response_type(model_spec=model_spec(servable, signature), result=result)

    @_answers_errors
    async def MultiInference(self, request, context):
        tasks = list(request.tasks)
        if not tasks:
            raise InvalidArgument("MultiInferenceRequest has no tasks")
        if len({(t.model_spec.name, _version(t.model_spec)) for t in tasks}) != 1:
            raise InvalidArgument("All tasks of a MultiInferenceRequest must use the same "
                                  "model name and version")
        names = [t.model_spec.signature_name or "serving_default" for t in tasks]
        if len(set(names)) != len(names):
            raise InvalidArgument("Duplicate evaluation of signature: a MultiInferenceRequest "
                                  "may name each signature once")
        response = inference_pb2.MultiInferenceResponse()
        for task, signature in zip(tasks, names, strict=True):
            if task.method_name not in (CLASSIFY_METHOD, REGRESS_METHOD):
                raise InvalidArgument(f"Unsupported signature method_name: {task.method_name}; "
                                      f"use {CLASSIFY_METHOD} or {REGRESS_METHOD}")
            version, label = _version(task.model_spec)
            servable, result = await self._dataplane.infer(
                task.method_name, task.model_spec.name, version, label, signature, request.input)
            answer = response.results.add(model_spec=model_spec(servable, signature))
            target = (answer.classification_result if task.method_name == CLASSIFY_METHOD
                      else answer.regression_result)
            target.CopyFrom(result)
        return response


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
