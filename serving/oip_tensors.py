"""Open Inference Protocol (KServe v2) tensors and metadata, for both its transports.

Turns OIP input tensors (JSON `data`, gRPC `contents`, or raw bytes from gRPC's
`raw_input_contents` and REST's binary tensor data extension) into numpy arrays,
each sized from its declared shape and datatype before anything is built; turns
outputs back into raw bytes or JSON; and describes a SignatureDef as OIP metadata.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from contract.tensor_codec import STRING_ELEMENT_BYTES
from serving.errors import InvalidArgument

# OIP datatype <-> TensorFlow DataType; BYTES carries DT_STRING.
DATATYPES = {
    "BOOL": types_pb2.DT_BOOL, "UINT8": types_pb2.DT_UINT8, "UINT16": types_pb2.DT_UINT16,
    "UINT32": types_pb2.DT_UINT32, "UINT64": types_pb2.DT_UINT64, "INT8": types_pb2.DT_INT8,
    "INT16": types_pb2.DT_INT16, "INT32": types_pb2.DT_INT32, "INT64": types_pb2.DT_INT64,
    "FP16": types_pb2.DT_HALF, "FP32": types_pb2.DT_FLOAT, "FP64": types_pb2.DT_DOUBLE,
    "BYTES": types_pb2.DT_STRING,
}
_BY_DTYPE = {dtype: name for name, dtype in DATATYPES.items()}
_NUMPY = {"BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
          "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
          "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64}
_DATATYPE_OF_NUMPY = {np.dtype(kind): name for name, kind in _NUMPY.items()}
# A request parameter naming the SignatureDef to run; absent: serving_default.
SIGNATURE_PARAMETER = "signature_name"
PLATFORM = "tensorflow_savedmodel"  # Triton's name for this platform


@dataclass
class InputTensor:
    """One OIP input as its transport gives it: `values` (a flat or nested list, or
    gRPC `contents` values) or `raw` bytes, never both."""

    name: str
    datatype: str
    shape: Sequence[int]
    values: object = None
    raw: bytes | None = None


def datatype_of(dtype: int) -> str:
    """The OIP datatype of a TensorFlow DataType; DT_BFLOAT16 and others have none."""
    return _BY_DTYPE.get(dtype, "")


def tensor_metadata(name: str, info: meta_graph_pb2.TensorInfo) -> dict:
    """A SignatureDef input or output as OIP tensor metadata: -1 for an open
    dimension, [-1] for an unknown rank."""
    shape = info.tensor_shape
    dims = [-1] if shape.unknown_rank else [d.size for d in shape.dim]
    return {"name": name, "datatype": datatype_of(info.dtype), "shape": dims}


def signature_metadata(signature: meta_graph_pb2.SignatureDef) -> tuple[list, list]:
    """The signature's inputs and outputs as OIP tensor metadata, sorted by name."""
    return ([tensor_metadata(k, signature.inputs[k]) for k in sorted(signature.inputs)],
            [tensor_metadata(k, signature.outputs[k]) for k in sorted(signature.outputs)])


def to_arrays(tensors: Sequence[InputTensor], max_bytes: int) -> dict[str, np.ndarray]:
    """The inputs as arrays, once their declared sizes are known to fit `max_bytes`
    together (a string element counts STRING_ELEMENT_BYTES besides its text)."""
    sizes, names = [], set()
    for tensor in tensors:
        if tensor.name in names:
            raise InvalidArgument(f"input '{tensor.name}' is given twice")
        names.add(tensor.name)
        sizes.append(_declared_bytes(tensor))
    if sum(sizes) > max_bytes:
        raise InvalidArgument(
            f"the request's tensors would decode to {sum(sizes)} bytes, more than the "
            f"server's limit of {max_bytes} bytes per request (--max_request_tensor_bytes)")
    return {tensor.name: _to_array(tensor) for tensor in tensors}


def _declared_bytes(tensor: InputTensor) -> int:
    if tensor.datatype not in DATATYPES:
        raise InvalidArgument(f"input '{tensor.name}': unknown datatype {tensor.datatype!r}; "
                              f"use one of {', '.join(DATATYPES)}")
    if any(d < 0 for d in tensor.shape):
        raise InvalidArgument(f"input '{tensor.name}': shape {list(tensor.shape)} has a "
                              "negative dimension")
    elements = math.prod(tensor.shape)
    if tensor.datatype == "BYTES":
        text = len(tensor.raw) if tensor.raw is not None else 0
        return elements * STRING_ELEMENT_BYTES + text
    return elements * np.dtype(_NUMPY[tensor.datatype]).itemsize


def _to_array(tensor: InputTensor) -> np.ndarray:
    shape, elements = tuple(tensor.shape), math.prod(tensor.shape)
    if tensor.raw is not None:
        flat = (_bytes_elements(tensor.raw, tensor.name, elements)
                if tensor.datatype == "BYTES" else _raw_numbers(tensor))
    else:
        flat = _flat_values(tensor)
    if len(flat) != elements:
        raise InvalidArgument(f"input '{tensor.name}': shape {list(shape)} needs {elements} "
                              f"values, the request has {len(flat)}")
    return flat.reshape(shape)


def _raw_numbers(tensor: InputTensor) -> np.ndarray:
    dtype = np.dtype(_NUMPY[tensor.datatype]).newbyteorder("<")
    if len(tensor.raw) % dtype.itemsize:
        raise InvalidArgument(f"input '{tensor.name}': {len(tensor.raw)} raw bytes are no "
                              f"whole number of {tensor.datatype} values")
    return np.frombuffer(tensor.raw, dtype).astype(dtype.newbyteorder("="))


def _bytes_elements(raw: bytes, name: str, elements: int) -> np.ndarray:
    """BYTES in the raw layout: each element a 4-byte little-endian length, then it.
    Stops past the `elements` the shape declares: empty elements cost 4 bytes each on
    the wire but a Python object each here, so they are never read beyond the budget."""
    items, offset = [], 0
    while offset < len(raw):
        if len(items) == elements:
            raise InvalidArgument(f"input '{name}': raw BYTES hold more than the {elements} "
                                  "elements its shape declares")
        if offset + 4 > len(raw):
            raise InvalidArgument(f"input '{name}': raw BYTES end inside a length prefix")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise InvalidArgument(f"input '{name}': a raw BYTES element of {length} bytes "
                                  "runs past the end of the data")
        items.append(raw[offset:offset + length])
        offset += length
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def _flat_values(tensor: InputTensor) -> np.ndarray:
    values = _flatten(tensor.values if tensor.values is not None else [])
    if tensor.datatype == "BYTES":
        items = [v.encode("utf-8") if isinstance(v, str) else v for v in values]
        if not all(isinstance(v, bytes) for v in items):
            raise InvalidArgument(f"input '{tensor.name}': BYTES data must be strings")
        array = np.empty(len(items), dtype=object)
        array[:] = items
        return array
    if any(isinstance(v, (str, bytes, list, dict)) or v is None for v in values):
        raise InvalidArgument(f"input '{tensor.name}': {tensor.datatype} data must be "
                              "numbers")
    try:
        with np.errstate(over="ignore"):
            return np.asarray(values, dtype=_NUMPY[tensor.datatype])
    except (TypeError, ValueError, OverflowError) as e:
        raise InvalidArgument(f"input '{tensor.name}': data could not be read as "
                              f"{tensor.datatype}: {e}") from e


def _flatten(values: object) -> list:
    if not isinstance(values, list):
        return [values]
    flat, stack = [], [iter(values)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def output_datatype(name: str, array: np.ndarray) -> str:
    """The OIP datatype of an output array."""
    if array.dtype == object:
        return "BYTES"
    datatype = _DATATYPE_OF_NUMPY.get(array.dtype)
    if datatype is None:
        raise InvalidArgument(f"output '{name}' has dtype {array.dtype}, which the Open "
                              "Inference Protocol cannot carry")
    return datatype


def raw_bytes(array: np.ndarray) -> bytes:
    """An output in the raw layout: little-endian values in row-major order, or for
    BYTES each element behind its 4-byte little-endian length."""
    if array.dtype == object:
        return b"".join(struct.pack("<I", len(v)) + v for v in array.flat)
    return np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes()


def json_data(name: str, array: np.ndarray) -> list:
    """An output's values as the flat JSON list OIP's `data` carries; BYTES as UTF-8
    text (bytes that are not UTF-8 must be asked for as binary data)."""
    if array.dtype != object:
        return array.reshape(-1).tolist()
    try:
        return [v.decode("utf-8") for v in array.flat]
    except UnicodeDecodeError as e:
        raise InvalidArgument(f"output '{name}' holds bytes that are not UTF-8; ask for it "
                              'with the parameter "binary_data": true') from e


def parse_version(version: str) -> tuple[int | None, str | None]:
    """An OIP version string as TF Serving's version or label: digits are a version
    number, anything else a version label, "" the latest."""
    if not version:
        return None, None
    if version.isascii() and version.isdigit():
        return int(version), None
    return None, version


def check_parameters(parameters: Mapping[str, object]) -> str:
    """The signature a request names in its parameters ("" for the default)."""
    signature = parameters.get(SIGNATURE_PARAMETER, "")
    if not isinstance(signature, str):
        raise InvalidArgument(f"parameter {SIGNATURE_PARAMETER!r} must be a string")
    return signature


def model_metadata(servable, signature) -> dict:
    """OIP model metadata of a servable: its name, the version answering, and the
    named signature's inputs and outputs (SignatureDef -> OIP tensor metadata)."""
    inputs, outputs = signature_metadata(signature)
    return {"name": servable.name, "versions": [str(servable.version)],
            "platform": PLATFORM, "inputs": inputs, "outputs": outputs}


# TF Serving's version states as the repository extension names them.
_INDEX_STATES = {"START": "LOADING", "LOADING": "LOADING", "AVAILABLE": "READY",
                 "UNLOADING": "UNLOADING", "END": "UNAVAILABLE"}


def repository_index(dataplane, ready_only: bool = False) -> list[dict]:
    """The repository extension's index: every configured model's versions, with the
    state GetModelStatus reports (mapped to READY, LOADING, UNLOADING, UNAVAILABLE)
    and, for a version that failed, why."""
    index = []
    for name in dataplane.repository.model_names:
        for state in dataplane.status(name):
            entry = {"name": name, "version": str(state.version),
                     "state": _INDEX_STATES.get(state.state, state.state),
                     "reason": str(state.error) if state.error else ""}
            if not ready_only or entry["state"] == "READY":
                index.append(entry)
    return index
