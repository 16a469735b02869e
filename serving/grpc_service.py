"""gRPC adapters: TF Serving's PredictionService and ModelService on grpc.aio.

Each method only converts protos to the data plane's arguments and back; every
ServingError becomes its gRPC status in `_answers_errors`, the one place that maps.
"""

from __future__ import annotations

import functools
import logging

import grpc
from google.protobuf.message import DecodeError
from tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    model_management_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_log_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
    status_pb2,
)

from serving.dataplane import DataPlane, Request
from serving.deadlines import set_deadline
from serving.errors import InvalidArgument, ServingError
from serving.fairness import CALLER
from serving.inference import CLASSIFY_METHOD, REGRESS_METHOD
from serving.responses import metadata_response, model_spec, status_response
from serving.servable import DEFAULT_SIGNATURE
from serving.tensor_protos import to_tensor_proto

logger = logging.getLogger(__name__)


def _answers_errors(method):
    """Turns ServingError into its gRPC status, and any other exception into
    INTERNAL, so no request can take the server down."""

    @functools.wraps(method)
    async def wrapper(self, request, context: grpc.aio.ServicerContext):
        CALLER.set(context.peer())  # the connection: its share of the graph threads
        set_deadline(context.time_remaining())  # where its graph will be stopped
        try:
            return await method(self, request, context)
        except ServingError as e:
            await context.abort(e.code, str(e))
        except Exception as e:  # noqa: BLE001 - the boundary of a request
            logger.exception("%s failed", method.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}")

    return wrapper


class UnparsedRequest:
    """What a method receives for bytes that are no message of its request type."""

    def __init__(self, reason: str):
        self.reason = reason


class ParsingRegistrar:
    """Stands in for the server in the generated `add_*Servicer_to_server` functions:
    their unary methods are registered so that bytes which do not parse as the
    request are answered INTERNAL "Failed to parse request", as TF Serving's C++
    gRPC answers them, instead of grpc.aio logging a traceback and answering
    UNKNOWN for each."""

    def __init__(self, server: grpc.aio.Server):
        self._server = server

    def add_generic_rpc_handlers(self, handlers) -> None:
        self._server.add_generic_rpc_handlers(tuple(_Parsing(h) for h in handlers))

    def add_registered_method_handlers(self, service: str, handlers: dict) -> None:
        self._server.add_registered_method_handlers(
            service, {name: _parsing(handler) for name, handler in handlers.items()})


class _Parsing(grpc.GenericRpcHandler):
    def __init__(self, inner: grpc.GenericRpcHandler):
        self._inner = inner
        self._handlers: dict[str, grpc.RpcMethodHandler | None] = {}

    def service(self, handler_call_details):
        method = handler_call_details.method
        if method not in self._handlers:
            self._handlers[method] = _parsing(self._inner.service(handler_call_details))
        return self._handlers[method]


def _parsing(handler: grpc.RpcMethodHandler | None) -> grpc.RpcMethodHandler | None:
    if handler is None or handler.unary_unary is None or handler.request_deserializer is None:
        return handler
    parse, behaviour = handler.request_deserializer, handler.unary_unary

    def parse_or_flag(data: bytes):
        try:
            return parse(data)
        except DecodeError as e:
            return UnparsedRequest(str(e))

    async def answer(request, context):
        if isinstance(request, UnparsedRequest):
            await context.abort(grpc.StatusCode.INTERNAL,
                                f"Failed to parse request: {request.reason}")
        return await behaviour(request, context)

    return grpc.unary_unary_rpc_method_handler(
        answer, request_deserializer=parse_or_flag,
        response_serializer=handler.response_serializer)


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
        answer = await self._dataplane.infer(Request(
            request.model_spec.name, version, label, request.model_spec.signature_name,
            self._dataplane.tensor_reader(request.inputs), request.ByteSize(),
            list(request.output_filter)))
        response = predict_pb2.PredictResponse(
            model_spec=model_spec(answer.servable, answer.signature))
        for key, value in answer.outputs.items():
            response.outputs[key].CopyFrom(to_tensor_proto(value))
        self._log(answer, "predict_log", prediction_log_pb2.PredictLog, request, response)
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
                                 classification_pb2.ClassificationResponse,
                                 "classify_log", prediction_log_pb2.ClassifyLog)

    @_answers_errors
    async def Regress(self, request, context):
        return await self._infer(REGRESS_METHOD, request, regression_pb2.RegressionResponse,
                                 "regress_log", prediction_log_pb2.RegressLog)

    async def _infer(self, method: str, request, response_type, kind: str, log_type):
        version, label = _version(request.model_spec)
        answer, result = await self._dataplane.classify_or_regress(
            method, request.model_spec.name, version, label, request.model_spec.signature_name,
            request.input)
        response = response_type(model_spec=model_spec(answer.servable, answer.signature),
                                 result=result)
        self._log(answer, kind, log_type, request, response)
        return response

    @_answers_errors
    async def MultiInference(self, request, context):
        tasks = list(request.tasks)
        if not tasks:
            raise InvalidArgument("MultiInferenceRequest has no tasks")
        if len({(t.model_spec.name, _version(t.model_spec)) for t in tasks}) != 1:
            raise InvalidArgument("All tasks of a MultiInferenceRequest must use the same "
                                  "model name and version")
        names = [t.model_spec.signature_name or DEFAULT_SIGNATURE for t in tasks]
        if len(set(names)) != len(names):
            raise InvalidArgument("Duplicate evaluation of signature: a MultiInferenceRequest "
                                  "may name each signature once")
        response = inference_pb2.MultiInferenceResponse()
        for task, signature in zip(tasks, names, strict=True):
            if task.method_name not in (CLASSIFY_METHOD, REGRESS_METHOD):
                raise InvalidArgument(f"Unsupported signature method_name: {task.method_name}; "
                                      f"use {CLASSIFY_METHOD} or {REGRESS_METHOD}")
            version, label = _version(task.model_spec)
            answer, result = await self._dataplane.classify_or_regress(
                task.method_name, task.model_spec.name, version, label, signature, request.input)
            entry = response.results.add(model_spec=model_spec(answer.servable, signature))
            target = (entry.classification_result if task.method_name == CLASSIFY_METHOD
                      else entry.regression_result)
            target.CopyFrom(result)
        self._log(answer, "multi_inference_log", prediction_log_pb2.MultiInferenceLog,
                  request, response)
        return response

    def _log(self, answer, kind: str, log_type, request, response) -> None:
        """Samples the call into its model's request log; the record is made on the
        log's thread, from the request and response as they are."""
        self._dataplane.log_request(answer, kind,
                                    lambda: log_type(request=request, response=response),
                                    lambda: request.ByteSize() + response.ByteSize())


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
