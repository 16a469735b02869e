"""TF Serving requests and responses that are no one endpoint's: channel targets and
options, ModelSpecs, Predict of any inputs, metadata and status; shared by the sync
and the asyncio client and the endpoint codecs (`clients.codecs`)."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence

import grpc
import numpy as np

from clients import response_checks
from clients.errors import MalformedResponse
from clients.results import VersionStatus
from contract import protos
from contract import tensor_codec as tensors
from contract.defaults import MAX_MESSAGE_BYTES
from contract.endpoints import DEFAULT_SIGNATURE
from contract.tracing import inject

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # spread calls over every address a target resolves to (a headless Service)
    ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})),
]
# The bytes a response's outputs may take once decoded: four times the largest message
# accepted. Numbers travel as raw bytes, decoded byte for byte, so no honest answer
# within that limit comes near it (only millions of near-empty strings, at 32 bytes
# each decoded, would), while a shape filled from one value stops here.
RESPONSE_BUDGET_BYTES = 4 * MAX_MESSAGE_BYTES
_STATES = protos.ModelVersionStatus.State


def channel_target(server: str) -> str:
    """A gRPC target for `server`: `host:port`, `dns:///name:port`, or several
    comma-separated `ip:port` addresses (balanced round robin)."""
    addresses = [a.strip() for a in server.split(",") if a.strip()]
    if len(addresses) == 1:
        return addresses[0]
    for address in addresses:
        host = address.rsplit(":", 1)[0].strip("[]")
        try:
            ipaddress.ip_address(host)
        except ValueError as e:
            raise ValueError(f"several addresses must be IP:PORT ({address!r} is not); for "
                             "host names use one DNS name with several records: "
                             "dns:///name:port") from e
    scheme = "ipv6" if any(":" in a.rsplit(":", 1)[0] for a in addresses) else "ipv4"
    return f"{scheme}:{','.join(addresses)}"


def trace_metadata() -> list[tuple[str, str]] | None:
    """The caller's trace context (W3C traceparent) as gRPC metadata, so the server's
    spans join the caller's trace; None when the caller has no current span."""
    return list(inject({}).items()) or None


def model_spec(model: str, signature: str = "", version: int | None = None,
               label: str | None = None) -> protos.ModelSpec:
    """A ModelSpec naming a version by number or label (neither: the latest)."""
    spec = protos.ModelSpec(name=model, signature_name=signature)
    if version is not None and label:
        raise ValueError("give a version or a version label, not both")
    if version is not None:
        spec.version.value = version
    elif label:
        spec.version_label = label
    return spec


def predict_request(model: str, inputs: Mapping[str, object],
                    signature: str = DEFAULT_SIGNATURE, version: int | None = None,
                    label: str | None = None,
                    output_filter: Sequence[str] = ()) -> protos.PredictRequest:
    """A PredictRequest; `inputs` maps tensor keys to arrays or TensorProtos (ours,
    or those of `tf.make_tensor_proto`)."""
    request = protos.PredictRequest(
        model_spec=model_spec(model, signature, version, label),
        output_filter=list(output_filter),
    )
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tensors.as_tensor_proto(value))
    return request


def predict_outputs(response, budget: int = RESPONSE_BUDGET_BYTES) -> dict[str, np.ndarray]:
    """The output arrays of a PredictResponse, by tensor key; `MalformedResponse` for
    an output that cannot be decoded, or outputs declaring more than `budget` bytes."""
    return response_checks.decode_outputs(response.outputs, budget)


def batches(items: Sequence, size: int | None) -> list[Sequence]:
    """`items` in order, in slices of at most `size` (None: one slice of them all)."""
    if size is None:
        return [items] if len(items) else []
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"batch_size must be a positive number of inputs, got {size!r}")
    return [items[start:start + size] for start in range(0, len(items), size)]


def metadata_request(model: str, version: int | None = None, label: str | None = None):
    return protos.GetModelMetadataRequest(
        model_spec=model_spec(model, version=version, label=label),
        metadata_field=["signature_def"])


def signature_defs(response) -> dict:
    """The SignatureDefs of a GetModelMetadataResponse, keyed by signature name."""
    signatures = protos.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    return dict(signatures.signature_def)


def status_request(model: str, version: int | None = None):
    return protos.GetModelStatusRequest(model_spec=model_spec(model, version=version))


def version_statuses(response) -> list[VersionStatus]:
    """GetModelStatus's versions; a state or error code no TF Serving sends is the
    server's fault (MalformedResponse), not a traceback."""
    return [VersionStatus(s.version, _state_name(s.state), _code_name(s.status.error_code),
                          s.status.error_message)
            for s in response.model_version_status]


def _state_name(state: int) -> str:
    try:
        return _STATES.Name(state)
    except ValueError as e:
        raise MalformedResponse(f"GetModelStatus reports the unknown state {state}") from e


def _code_name(value: int) -> str:
    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code.name
    raise MalformedResponse(f"GetModelStatus reports the unknown error code {value}")
