"""TensorProtos from and to numpy arrays, without TensorFlow.

`make_tensor_proto` writes what `tf.make_tensor_proto` writes, byte for byte: the
raw bytes in `tensor_content` for a numeric tensor of more than one value, the
typed `*_val` field otherwise (scalars, one value, bool, complex, uint16), and
`string_val` for strings; Python lists of floats become DT_FLOAT and of ints
DT_INT32 when they fit. `make_ndarray` reads what any server sends, as
`tf.make_ndarray` does: `tensor_content`, or the typed field, a shorter one filling
the shape with its last value.
"""

from __future__ import annotations

import math

import numpy as np

from clients.protos import DATA_TYPES, TensorProto

_MAX_BYTES = 1 << 31  # a TensorProto's limit (protobuf messages stay under 2 GB)
_NUMPY = {"DT_FLOAT": np.float32, "DT_DOUBLE": np.float64, "DT_INT32": np.int32,
          "DT_UINT8": np.uint8, "DT_INT16": np.int16, "DT_INT8": np.int8,
          "DT_STRING": np.object_, "DT_COMPLEX64": np.complex64, "DT_INT64": np.int64,
          "DT_BOOL": np.bool_, "DT_UINT16": np.uint16, "DT_COMPLEX128": np.complex128,
          "DT_HALF": np.float16, "DT_UINT32": np.uint32, "DT_UINT64": np.uint64}
# The field carrying each dtype's values when tensor_content does not.
_FIELDS = {"DT_HALF": "half_val", "DT_BFLOAT16": "half_val", "DT_FLOAT": "float_val",
           "DT_DOUBLE": "double_val", "DT_INT32": "int_val", "DT_UINT8": "int_val",
           "DT_UINT16": "int_val", "DT_INT16": "int_val", "DT_INT8": "int_val",
           "DT_INT64": "int64_val", "DT_UINT32": "uint32_val", "DT_UINT64": "uint64_val",
           "DT_BOOL": "bool_val", "DT_COMPLEX64": "scomplex_val",
           "DT_COMPLEX128": "dcomplex_val", "DT_STRING": "string_val"}
# The dtypes tf.make_tensor_proto writes as raw bytes (its _TENSOR_CONTENT_TYPES).
_CONTENT = {"DT_HALF", "DT_BFLOAT16", "DT_FLOAT", "DT_DOUBLE", "DT_INT32", "DT_UINT8",
            "DT_INT16", "DT_INT8", "DT_INT64", "DT_UINT32", "DT_UINT64"}
_NAMES = {number: name for name, number in DATA_TYPES.items()}


def dtype_name(dtype) -> str:
    """The DataType name (`DT_FLOAT`) of a name, an enum number or a numpy dtype."""
    if isinstance(dtype, str) and dtype.startswith("DT_"):
        if dtype not in DATA_TYPES:
            raise ValueError(f"unknown DataType {dtype!r}")
        return dtype
    if isinstance(dtype, int | np.integer) and not isinstance(dtype, bool):
        if int(dtype) not in _NAMES:
            raise ValueError(f"unknown DataType number {int(dtype)}")
        return _NAMES[int(dtype)]
    dtype = np.dtype(dtype)
    if dtype.kind in "SUO":
        return "DT_STRING"
    if dtype.name == "bfloat16":
        return "DT_BFLOAT16"
    for name, numpy_type in _NUMPY.items():
        if dtype.kind != "O" and dtype == np.dtype(numpy_type):
            return name
    raise ValueError(f"numpy dtype {dtype} has no TensorFlow DataType")


def numpy_dtype(name: str) -> np.dtype:
    """The numpy dtype of a DataType name; `object` (bytes) for DT_STRING."""
    if name in _NUMPY:
        return np.dtype(_NUMPY[name])
    if name == "DT_BFLOAT16":
        try:
            import ml_dtypes
        except ImportError as e:
            raise ValueError("DT_BFLOAT16 tensors need the ml_dtypes package") from e
        return np.dtype(ml_dtypes.bfloat16)
    raise ValueError(f"{name} tensors are not supported by this client (no numpy dtype)")


def is_tensor_proto(value) -> bool:
    """Whether `value` is a TensorProto: ours, or the official class's."""
    return getattr(getattr(value, "DESCRIPTOR", None), "full_name", "") == "tensorflow.TensorProto"


def as_tensor_proto(value) -> TensorProto:
    """`value` (any TensorProto, or values for `make_tensor_proto`) as our TensorProto."""
    if isinstance(value, TensorProto):
        return value
    if is_tensor_proto(value):  # tf.make_tensor_proto's: same bytes, other class
        return TensorProto.FromString(value.SerializeToString())
    return make_tensor_proto(value)


def make_tensor_proto(values, dtype=None) -> TensorProto:
    """A TensorProto of `values` (an array, a nested list, a scalar), of `dtype` (a
    DataType name or number, or a numpy dtype) if given, else the values' own."""
    if is_tensor_proto(values):
        return as_tensor_proto(values)
    wanted = None if dtype is None else dtype_name(dtype)
    array = _as_array(values, None if wanted is None else numpy_dtype(wanted))
    name = wanted or dtype_name(array.dtype)
    proto = TensorProto(dtype=DATA_TYPES[name])
    proto.tensor_shape.SetInParent()  # present even for a scalar, as TensorFlow writes it
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    if name in _CONTENT and array.size > 1:
        if array.nbytes >= _MAX_BYTES:
            raise ValueError(f"a tensor of {array.nbytes} bytes is over a TensorProto's 2 GB")
        proto.tensor_content = np.ascontiguousarray(
            array, array.dtype.newbyteorder("=")).tobytes()
        return proto
    if name == "DT_STRING":
        strings = array.ravel() if isinstance(values, np.ndarray) else _flatten(values)
        proto.string_val.extend(_as_bytes(s) for s in strings)
        return proto
    flat = np.ascontiguousarray(array.ravel(), array.dtype.newbyteorder("="))
    if name in ("DT_HALF", "DT_BFLOAT16"):
        flat = flat.view(np.uint16)
    elif flat.dtype.kind == "c":
        flat = np.stack([flat.real, flat.imag], axis=-1).ravel()
    getattr(proto, _FIELDS[name]).extend(flat.tolist())
    return proto


def declared_shape(proto) -> tuple[int, ...]:
    """The shape a TensorProto declares; ValueError unless it is fully defined."""
    if proto.tensor_shape.unknown_rank or any(d.size < 0 for d in proto.tensor_shape.dim):
        raise ValueError("a tensor without a fully defined shape cannot be decoded")
    return tuple(d.size for d in proto.tensor_shape.dim)


def declared_bytes(proto) -> int:
    """The bytes `make_ndarray` would allocate for a TensorProto (a pointer per string),
    from its declared shape and dtype alone: known before anything is built, however
    few values the proto carries (a shape is filled from its last value)."""
    return math.prod(declared_shape(proto)) * numpy_dtype(dtype_name(proto.dtype)).itemsize


def make_ndarray(proto) -> np.ndarray:
    """The array a TensorProto holds (strings as `bytes` in an object array)."""
    shape = declared_shape(proto)
    name = dtype_name(proto.dtype)
    dtype = numpy_dtype(name)
    count = math.prod(shape)
    if declared_bytes(proto) >= _MAX_BYTES:
        raise ValueError(f"a {name} tensor of shape {list(shape)} is over 2 GB")
    if proto.tensor_content:
        if name == "DT_STRING":
            raise ValueError("a DT_STRING tensor carries its values in string_val")
        values = np.frombuffer(proto.tensor_content, dtype.newbyteorder("<"))
        if values.size != count:
            raise ValueError(f"tensor_content holds {values.size} values; the shape "
                             f"{list(shape)} wants {count}")
        return values.astype(dtype).reshape(shape)
    if name == "DT_STRING":
        values = np.empty(len(proto.string_val), object)
        values[:] = list(proto.string_val)
    else:
        values = _typed_values(proto, name, dtype)
    if values.size > count:
        raise ValueError(f"the tensor carries {values.size} values; its shape "
                         f"{list(shape)} holds {count}")
    if values.size == 0:
        return np.full(shape, b"", object) if name == "DT_STRING" else np.zeros(shape, dtype)
    if values.size < count:  # fill the shape with the last value, as TensorFlow does
        values = np.concatenate([values, np.repeat(values[-1:], count - values.size)])
    return values.reshape(shape)


def _typed_values(proto, name: str, dtype: np.dtype) -> np.ndarray:
    field = getattr(proto, _FIELDS[name])
    if name in ("DT_HALF", "DT_BFLOAT16"):
        return np.array(field, np.uint16).view(dtype)
    if dtype.kind == "c":
        parts = np.array(field, np.float32 if name == "DT_COMPLEX64" else np.float64)
        return (parts[0::2] + 1j * parts[1::2]).astype(dtype)
    return np.array(field, dtype)


def _as_array(values, dtype: np.dtype | None) -> np.ndarray:
    """`values` as an array, inferring the dtype as tf.make_tensor_proto does."""
    if not isinstance(values, np.ndarray | np.generic) and hasattr(values, "__array__"):
        values = np.asarray(values)
    if isinstance(values, np.ndarray | np.generic):
        return np.asarray(values if dtype is None else values.astype(dtype))
    if values is None:
        raise ValueError("None values not supported")
    try:
        array = np.array(values, dtype)
    except ValueError as e:
        raise ValueError(f"expected a dense tensor of shape {_dense_shape(values)}: {e}") from e
    if list(array.shape) != _dense_shape(values):
        raise ValueError(f"expected a dense tensor of shape {_dense_shape(values)}, got "
                         f"{list(array.shape)}")
    if dtype is None and array.dtype == np.float64:
        return array.astype(np.float32)
    if dtype is None and array.dtype == np.int64:
        narrow = array.astype(np.int32)
        return narrow if np.array_equal(narrow, array) else array
    return array


def _dense_shape(values) -> list[int]:
    if not isinstance(values, list | tuple):
        return []
    return [len(values), *_dense_shape(values[0])] if values else [0]


def _flatten(values):
    if isinstance(values, list | tuple):
        for inner in values:
            yield from _flatten(inner)
    else:
        yield values


def _as_bytes(value) -> bytes:
    if isinstance(value, bytes | bytearray | np.bytes_):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"a string tensor takes bytes or str values, not {type(value).__name__}")
