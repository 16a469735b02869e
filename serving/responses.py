"""TF Serving's response protos for status and metadata, shared by gRPC and REST
(REST answers with their JSON form)."""

from __future__ import annotations

from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    status_pb2,
)

from serving.dataplane import SIGNATURE_DEF_FIELD
from serving.repository import VersionState
from serving.servable import Servable

_STATES = get_model_status_pb2.ModelVersionStatus.State


def model_spec(servable: Servable, signature: str = "") -> model_pb2.ModelSpec:
    """The ModelSpec naming the version that answered."""
    spec = model_pb2.ModelSpec(name=servable.name, signature_name=signature)
    spec.version.value = servable.version
    return spec


def status_response(states: list[VersionState]) -> get_model_status_pb2.GetModelStatusResponse:
    """GetModelStatusResponse: each version's state, with its load error if any."""
    response = get_model_status_pb2.GetModelStatusResponse()
    for state in states:
        status = status_pb2.StatusProto()
        if state.error is not None:
            status.error_code = state.error.code.value[0]
            status.error_message = str(state.error)
        response.model_version_status.add(
            version=state.version, state=_STATES.Value(state.state), status=status
        )
    return response


def metadata_response(servable: Servable) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """GetModelMetadataResponse with every SignatureDef of the MetaGraphDef, a TF2
    export's `__saved_model_init_op` included (get_model_metadata_impl.cc)."""
    signatures = get_model_metadata_pb2.SignatureDefMap()
    for key, signature in servable.signature_defs.items():
        signatures.signature_def[key].CopyFrom(signature)
    response = get_model_metadata_pb2.GetModelMetadataResponse(model_spec=model_spec(servable))
    response.metadata[SIGNATURE_DEF_FIELD].Pack(signatures)
    return response
