"""Open Inference Protocol (KServe v2) over gRPC: `inference.GRPCInferenceService`
beside TF Serving's services on the gRPC port, with the messages and stubs Triton's
client package generates from its grpc_service.proto. Inputs come in typed
`contents` or `raw_input_contents`; outputs go back as `raw_output_contents`, as
Triton answers. Requests go down the data plane's one path."""

from __future__ import annotations

from tritonclient.grpc import service_pb2, service_pb2_grpc

from serving.classification import PARAMETER, class_count
from serving.dataplane import DataPlane, Request
from serving.errors import InvalidArgument
from serving.grpc_service import _answers_errors
from serving.oip_rest import EXTENSIONS, SERVER_NAME, server_version
from serving.oip_tensors import (
    SIGNATURE_PARAMETER,
    InputTensor,
    model_metadata,
    output_datatype,
    parse_version,
    raw_bytes,
    repository_index,
    to_arrays,
)
from serving.servable import DEFAULT_SIGNATURE

SERVICE_NAME = "inference.GRPCInferenceService"
# Where each datatype's values sit in InferTensorContents (FP16 and BF16: raw only).
_CONTENTS = {"BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents",
             "INT32": "int_contents", "INT64": "int64_contents", "UINT8": "uint_contents",
             "UINT16": "uint_contents", "UINT32": "uint_contents",
             "UINT64": "uint64_contents", "FP32": "fp32_contents", "FP64": "fp64_contents",
             "BYTES": "bytes_contents"}


class InferenceService(service_pb2_grpc.GRPCInferenceServiceServicer):
    """ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata, ModelInfer
    and RepositoryIndex; the service's other methods answer UNIMPLEMENTED."""

    def __init__(self, dataplane: DataPlane):
        self._dataplane = dataplane

    @_answers_errors
    async def ServerLive(self, request, context):
        return service_pb2.ServerLiveResponse(live=True)

    @_answers_errors
    async def ServerReady(self, request, context):
        return service_pb2.ServerReadyResponse(ready=self._dataplane.ready())

    @_answers_errors
    async def ModelReady(self, request, context):
        version, label = parse_version(request.version)
        return service_pb2.ModelReadyResponse(
            ready=self._dataplane.ready(request.name, version, label))

    @_answers_errors
    async def ServerMetadata(self, request, context):
        return service_pb2.ServerMetadataResponse(
            name=SERVER_NAME, version=server_version(), extensions=EXTENSIONS)

    @_answers_errors
    async def ModelMetadata(self, request, context):
        version, label = parse_version(request.version)
        servable = self._dataplane.repository.servable(request.name, version, label)
        metadata = model_metadata(servable, servable.signature(DEFAULT_SIGNATURE))
        response = service_pb2.ModelMetadataResponse(
            name=metadata["name"], versions=metadata["versions"], platform=metadata["platform"])
        for field in ("inputs", "outputs"):
            for tensor in metadata[field]:
                getattr(response, field).add(**tensor)
        return response

    @_answers_errors
    async def RepositoryIndex(self, request, context):
        return service_pb2.RepositoryIndexResponse(models=[
            service_pb2.RepositoryIndexResponse.ModelIndex(**entry)
            for entry in repository_index(self._dataplane, request.ready)])

    @_answers_errors
    async def ModelInfer(self, request: service_pb2.ModelInferRequest, context):
        version, label = parse_version(request.model_version)
        tensors = _input_tensors(request)
        signature = ""
        if SIGNATURE_PARAMETER in request.parameters:
            signature = request.parameters[SIGNATURE_PARAMETER].string_param
        answer = await self._dataplane.infer(Request(
            request.model_name, version, label, signature,
            lambda *_: to_arrays(tensors, self._dataplane.max_request_tensor_bytes),
            request.ByteSize(), [output.name for output in request.outputs],
            classification={output.name: class_count(
                output.name, output.parameters[PARAMETER].int64_param)
                for output in request.outputs if PARAMETER in output.parameters}))
        response = service_pb2.ModelInferResponse(
            model_name=answer.servable.name, model_version=str(answer.servable.version),
            id=request.id)
        for name, array in answer.outputs.items():
            response.outputs.add(name=name, datatype=output_datatype(name, array),
                                 shape=array.shape)
            response.raw_output_contents.append(raw_bytes(array))
        return response


def _input_tensors(request: service_pb2.ModelInferRequest) -> list[InputTensor]:
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InvalidArgument(f"{len(raw)} raw_input_contents for {len(request.inputs)} "
                              "inputs; give one per input, or none")
    tensors = []
    for index, tensor in enumerate(request.inputs):
        if raw:
            tensors.append(InputTensor(tensor.name, tensor.datatype, tensor.shape,
                                       raw=raw[index]))
            continue
        field = _CONTENTS.get(tensor.datatype)
        if field is None:
            raise InvalidArgument(f"input '{tensor.name}': {tensor.datatype} data goes in "
                                  "raw_input_contents")
        tensors.append(InputTensor(tensor.name, tensor.datatype, tensor.shape,
                                   values=list(getattr(tensor.contents, field))))
    return tensors
