"""Request TensorProtos to arrays, after checking what each declares against what it
carries, so a few bytes on the wire can never make the server allocate gigabytes.

TensorFlow's own decoder (`Tensor::FromProto`, and `tf.make_ndarray` after it) fills
a declared shape by repeating the last value it was given: a 70-byte request that
declares `[300000, 28, 28, 1]` would materialise 940 MB. Here the declared size is
checked first, against the values carried and against the request's byte budgets:
one for what its tensors take once decoded, and a much smaller one for what filling
adds (the part of a tensor that costs the server memory but the client no bytes).

Outputs go the other way through `to_tensor_proto`, tf.make_tensor_proto's encoding
without its per-call cost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from serving.errors import InvalidArgument
from serving.tensors import dtype_name

# As large as the largest message the server takes: filling a shape never costs more
# than sending its values would have.
DEFAULT_MAX_REQUEST_TENSOR_BYTES = 64 * 1024 * 1024
# What filling declared shapes from fewer values may add to a request: enough for a
# few thousand numbers from one value, never a batch of thousands of strings.
DEFAULT_MAX_REQUEST_FILL_BYTES = 64 * 1024
# One string element once decoded: a tf.tstring (24 bytes) and a numpy object pointer.
STRING_ELEMENT_BYTES = 32

# The repeated field that carries each dtype's values when tensor_content is empty.
_VALUE_FIELD = {
    types_pb2.DT_FLOAT: "float_val", types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_INT32: "int_val", types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT8: "int_val", types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val", types_pb2.DT_QINT8: "int_val",
    types_pb2.DT_QUINT8: "int_val", types_pb2.DT_QINT32: "int_val",
    types_pb2.DT_INT64: "int64_val", types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val", types_pb2.DT_BOOL: "bool_val",
    types_pb2.DT_STRING: "string_val", types_pb2.DT_HALF: "half_val",
    types_pb2.DT_BFLOAT16: "half_val", types_pb2.DT_COMPLEX64: "scomplex_val",
    types_pb2.DT_COMPLEX128: "dcomplex_val",
}
_COMPLEX = (types_pb2.DT_COMPLEX64, types_pb2.DT_COMPLEX128)  # two numbers a value


@dataclass(frozen=True)
class TensorSize:
    """What a TensorProto declares (elements, bytes once decoded, fill included),
    carries (values), and the bytes filling the elements not sent adds."""

    elements: int
    bytes: int
    carried: int
    filled: int = 0


def tensor_size(key: str, proto: tensor_pb2.TensorProto) -> TensorSize:
    """The declared and carried sizes of `proto`; InvalidArgument for a shape or
    dtype TensorFlow could not decode, or values that do not fit the shape."""
    if proto.tensor_shape.unknown_rank:
        raise InvalidArgument(f"tensor parsing error: {key}: the tensor_shape has unknown "
                              "rank; a request tensor needs a fully defined shape")
    dims = [d.size for d in proto.tensor_shape.dim]
    if any(d < 0 for d in dims):
        raise InvalidArgument(f"tensor parsing error: {key}: shape {dims} has a negative "
                              "dimension; a request tensor needs a fully defined shape")
    if proto.dtype not in _VALUE_FIELD:
        raise InvalidArgument(f"tensor parsing error: {key}: dtype "
                              f"{dtype_name(proto.dtype)} cannot be sent in a "
                              "request")
    elements = math.prod(dims)
    if proto.dtype == types_pb2.DT_STRING:
        carried = len(proto.string_val)
        last = len(proto.string_val[-1]) if carried else 0
        per_fill = last + STRING_ELEMENT_BYTES  # TensorFlow copies the last value
        sent = sum(map(len, proto.string_val)) + STRING_ELEMENT_BYTES * carried
        nbytes = sent + max(elements - carried, 0) * per_fill
    else:
        per_fill = tf.dtypes.as_dtype(proto.dtype).size
        nbytes = elements * per_fill
        if proto.tensor_content:
            if len(proto.tensor_content) != nbytes:
                raise InvalidArgument(
                    f"tensor parsing error: {key}: shape {dims} declares {elements} "
                    f"elements ({nbytes} bytes) but tensor_content holds "
                    f"{len(proto.tensor_content)} bytes")
            carried = elements
        else:
            carried = len(getattr(proto, _VALUE_FIELD[proto.dtype]))
            carried //= 2 if proto.dtype in _COMPLEX else 1
    if carried > elements:
        raise InvalidArgument(f"tensor parsing error: {key}: shape {dims} declares "
                              f"{elements} elements but the tensor carries {carried} values")
    return TensorSize(elements, nbytes, carried, (elements - carried) * per_fill)


def to_arrays(inputs: Mapping[str, tensor_pb2.TensorProto],
              max_bytes: int = DEFAULT_MAX_REQUEST_TENSOR_BYTES,
              max_fill_bytes: int = DEFAULT_MAX_REQUEST_FILL_BYTES) -> dict[str, np.ndarray]:
    """The request's tensors as arrays, decoded only once their declared sizes are
    known to fit `max_bytes` together.

    A tensor carrying fewer values than it declares is filled from its last value, as
    TensorFlow does, but only up to `max_fill_bytes` for the whole request: such a fill
    is the one way a request can cost more memory than it sent.
    """
    sizes = {key: tensor_size(key, proto) for key, proto in inputs.items()}
    total = sum(size.bytes for size in sizes.values())
    if total > max_bytes:
        declared = ", ".join(f"'{key}' {size.elements} elements ({size.bytes} bytes), "
                             f"{size.carried} values sent" for key, size in sizes.items())
        raise InvalidArgument(
            f"the request's tensors declare {total} bytes, more than the server's limit of "
            f"{max_bytes} bytes per request (--max_request_tensor_bytes): {declared}")
    filled = sum(size.filled for size in sizes.values())
    if filled > max_fill_bytes:
        declared = ", ".join(f"'{key}' {size.elements} elements, {size.carried} values sent"
                             for key, size in sizes.items() if size.filled)
        raise InvalidArgument(
            f"the request's tensors declare more elements than they carry, and filling them "
            f"from their last value would add {filled} bytes, more than the server's limit "
            f"of {max_fill_bytes} bytes per request (--max_request_fill_bytes): {declared}; "
            "send every value")
    arrays = {}
    for key, proto in inputs.items():
        try:
            try:
                arrays[key] = tf.make_ndarray(proto)
            except OverflowError:  # numpy refuses what C++ casts
                arrays[key] = tf.make_ndarray(_narrowed(proto))
        except (TypeError, ValueError) as e:
            raise InvalidArgument(f"tensor parsing error: {key}: {e}") from e
    return arrays


# Output dtypes whose arrays tf.make_tensor_proto writes as raw tensor_content (when
# they hold more than one value): encoded here directly, as it costs ~20 us a tensor.
_CONTENT_DTYPES = {np.dtype(np.float32): types_pb2.DT_FLOAT,
                   np.dtype(np.float64): types_pb2.DT_DOUBLE,
                   np.dtype(np.int32): types_pb2.DT_INT32,
                   np.dtype(np.int64): types_pb2.DT_INT64}


def to_tensor_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
    """`tf.make_tensor_proto(array)`, byte for byte, without its per-call overhead
    for what outputs mostly are: numbers (several) as tensor_content, bytes as
    string_val; any other array is handed to it."""
    array = np.asarray(array)
    dtype = _CONTENT_DTYPES.get(array.dtype)
    if dtype is not None and 1 < array.size and array.nbytes < 1 << 31:
        values = {"tensor_content": array.tobytes()}
    elif array.dtype == object and all(type(v) is bytes for v in array.flat):
        dtype, values = types_pb2.DT_STRING, {"string_val": array.ravel().tolist()}
    else:
        return tf.make_tensor_proto(array)
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=n) for n in array.shape])
    return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape, **values)


# The C++ type each narrow dtype's int_val entries are cast to; half_val holds the
# 16 bits of a DT_HALF or DT_BFLOAT16.
_NARROW = {types_pb2.DT_INT8: np.int8, types_pb2.DT_QINT8: np.int8,
           types_pb2.DT_UINT8: np.uint8, types_pb2.DT_QUINT8: np.uint8,
           types_pb2.DT_INT16: np.int16, types_pb2.DT_UINT16: np.uint16,
           types_pb2.DT_HALF: np.uint16, types_pb2.DT_BFLOAT16: np.uint16}


def _narrowed(proto: tensor_pb2.TensorProto) -> tensor_pb2.TensorProto:
    """`proto` with each int_val/half_val entry cast to its dtype's width, wrapping
    around as TensorFlow's C++ decoder (`Tensor::FromProto`) does: 300 sent as
    DT_UINT8 is 44 there, where numpy would raise OverflowError."""
    narrow = _NARROW.get(proto.dtype)
    if narrow is None:
        raise ValueError(f"a value does not fit dtype {dtype_name(proto.dtype)}")
    field = _VALUE_FIELD[proto.dtype]
    copy = tensor_pb2.TensorProto()
    copy.CopyFrom(proto)
    values = getattr(copy, field)
    values[:] = np.asarray(values, np.int64).astype(narrow).tolist()
    return copy
