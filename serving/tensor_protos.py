"""Request TensorProtos to arrays, after checking what each declares against what it
carries, so a few bytes on the wire can never make the server allocate gigabytes.

TensorFlow's own decoder (`Tensor::FromProto`, and `tf.make_ndarray` after it) fills
a declared shape by repeating the last value it was given: a 70-byte request that
declares `[300000, 28, 28, 1]` would materialise 940 MB. Here the declared size is
checked first, against the values carried and against the request's byte budgets:
one for what its tensors take once decoded, and a much smaller one for what filling
adds (the part of a tensor that costs the server memory but the client no bytes).

Sizes are the project's one codec's (contract/tensor_codec.py); decoding is
TensorFlow's own. Outputs go the other way through that codec, as
tf.make_tensor_proto writes them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from contract.defaults import MAX_MESSAGE_BYTES
from contract.tensor_codec import TensorSize, make_tensor_proto, tensor_size
from serving.errors import InvalidArgument
from serving.signature_checks import dtype_name

# As large as the largest message the server takes: filling a shape never costs more
# than sending its values would have.
DEFAULT_MAX_REQUEST_TENSOR_BYTES = MAX_MESSAGE_BYTES
# What filling declared shapes from fewer values may add to a request: enough for a
# few thousand numbers from one value, never a batch of thousands of strings.
DEFAULT_MAX_REQUEST_FILL_BYTES = 64 * 1024

def to_arrays(inputs: Mapping[str, tensor_pb2.TensorProto],
              max_bytes: int = DEFAULT_MAX_REQUEST_TENSOR_BYTES,
              max_fill_bytes: int = DEFAULT_MAX_REQUEST_FILL_BYTES) -> dict[str, np.ndarray]:
    """The request's tensors as arrays, decoded only once their declared sizes are
    known to fit `max_bytes` together.

    A tensor carrying fewer values than it declares is filled from its last value, as
    TensorFlow does, but only up to `max_fill_bytes` for the whole request: such a fill
    is the one way a request can cost more memory than it sent.
    """
    sizes = {key: _size(key, proto) for key, proto in inputs.items()}
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


def to_tensor_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
    """An output as `tf.make_tensor_proto(array)` writes it, byte for byte, by the
    project's one codec (contract/tensor_codec.py), without TensorFlow's per-call
    cost; dtypes the codec does not carry (quantized, resource) by TensorFlow's."""
    try:
        return make_tensor_proto(array, message=tensor_pb2.TensorProto)
    except (ValueError, TypeError):
        return tf.make_tensor_proto(array)


def _size(key: str, proto: tensor_pb2.TensorProto) -> TensorSize:
    try:
        return tensor_size(proto)
    except ValueError as e:
        raise InvalidArgument(f"tensor parsing error: {key}: {e}") from e


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
    field = "half_val" if proto.dtype in (types_pb2.DT_HALF, types_pb2.DT_BFLOAT16) else "int_val"
    copy = tensor_pb2.TensorProto()
    copy.CopyFrom(proto)
    values = getattr(copy, field)
    values[:] = np.asarray(values, np.int64).astype(narrow).tolist()
    return copy
