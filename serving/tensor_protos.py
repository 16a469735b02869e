"""Request TensorProtos to arrays, after checking what each declares against what it
carries, so a few bytes on the wire can never make the server allocate gigabytes.

TensorFlow's own decoder (`Tensor::FromProto`, and `tf.make_ndarray` after it) fills
a declared shape by repeating the last value it was given: a 70-byte request that
declares `[300000, 28, 28, 1]` would materialise 940 MB. Here the declared size is
checked first, against the values carried and against the request's byte budget.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from serving.errors import InvalidArgument

# As large as the largest message the server takes: filling a shape never costs more
# than sending its values would have.
DEFAULT_MAX_REQUEST_TENSOR_BYTES = 64 * 1024 * 1024

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
    """What a TensorProto declares (elements, bytes once decoded) and carries (values)."""

    elements: int
    bytes: int
    carried: int


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
                              f"{types_pb2.DataType.Name(proto.dtype)} cannot be sent in a "
                              "request")
    elements = math.prod(dims)
    if proto.dtype == types_pb2.DT_STRING:
        carried = len(proto.string_val)
        nbytes = sum(map(len, proto.string_val)) + 8 * elements  # one pointer a slot
    else:
        itemsize = tf.dtypes.as_dtype(proto.dtype).size
        nbytes = elements * itemsize
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
    return TensorSize(elements, nbytes, carried)


def to_arrays(inputs: Mapping[str, tensor_pb2.TensorProto],
              max_bytes: int = DEFAULT_MAX_REQUEST_TENSOR_BYTES) -> dict[str, np.ndarray]:
    """The request's tensors as arrays, decoded only once their declared sizes are
    known to fit `max_bytes` together.

    A tensor carrying fewer values than it declares is filled from its last value, as
    TensorFlow does, but only within the budget: such a fill is the one way a request
    can cost more memory than it sent.
    """
    sizes = {key: tensor_size(key, proto) for key, proto in inputs.items()}
    total = sum(size.bytes for size in sizes.values())
    if total > max_bytes:
        declared = ", ".join(f"'{key}' {size.elements} elements ({size.bytes} bytes), "
                             f"{size.carried} values sent" for key, size in sizes.items())
        raise InvalidArgument(
            f"the request's tensors declare {total} bytes, more than the server's limit of "
            f"{max_bytes} bytes per request (--max_request_tensor_bytes): {declared}")
    arrays = {}
    for key, proto in inputs.items():
        try:
            arrays[key] = tf.make_ndarray(proto)
        except (TypeError, ValueError) as e:
            raise InvalidArgument(f"tensor parsing error: {key}: {e}") from e
    return arrays
