"""The one numpy <-> TensorProto codec, without TensorFlow: the clients' requests and
answers, and the server's answers and request budgets.

`make_tensor_proto` writes what `tf.make_tensor_proto` writes, byte for byte: the
raw bytes in `tensor_content` for a numeric tensor of more than one value, the
typed `*_val` field otherwise (scalars, one value, bool, complex, uint16), and
`string_val` for strings; Python lists of floats become DT_FLOAT and of ints
DT_INT32 when they fit. It builds our TensorProto class or any other with the same
fields (the server passes TensorFlow's). `tensor_size` says what a TensorProto
declares and carries before anything is built: a shape is filled from its last
value, so a few bytes can declare gigabytes. `make_ndarray` reads what any server
sends, as `tf.make_ndarray` does: `tensor_content`, or the typed field, a shorter one
filling the shape with its last value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from contract.protos import DATA_TYPES, TensorProto

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
           "DT_COMPLEX128": "dcomplex_val", "DT_STRING": "string_val",
           "DT_QINT8": "int_val", "DT_QUINT8": "int_val", "DT_QINT32": "int_val"}
# The dtypes tf.make_tensor_proto writes as raw bytes (its _TENSOR_CONTENT_TYPES).
_CONTENT = {"DT_HALF", "DT_BFLOAT16", "DT_FLOAT", "DT_DOUBLE", "DT_INT32", "DT_UINT8",
            "DT_INT16", "DT_INT8", "DT_INT64", "DT_UINT32", "DT_UINT64"}
_NAMES = {number: name for name, number in DATA_TYPES.items()}
_BY_NUMPY = {np.dtype(kind): name for name, kind in _NUMPY.items() if name != "DT_STRING"}
# Bytes of one element once decoded; a string's are its length and STRING_ELEMENT_BYTES.
_ITEM_BYTES = {**{name: np.dtype(kind).itemsize for name, kind in _NUMPY.items()},
               "DT_BFLOAT16": 2, "DT_QINT8": 1, "DT_QUINT8": 1, "DT_QINT32": 4}
# One string element once decoded: a tf.tstring (24 bytes) and a numpy object pointer.
STRING_ELEMENT_BYTES = 32


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
    if dtype in _BY_NUMPY:
        return _BY_NUMPY[dtype]
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


def as_tensor_proto(value, message=TensorProto):
    """`value` (any TensorProto, or values for `make_tensor_proto`) as a `message`."""
    if isinstance(value, message):
        return value
    if is_tensor_proto(value):  # another class's: the same bytes
        return message.FromString(value.SerializeToString())
    return make_tensor_proto(value, message=message)


def make_tensor_proto(values, dtype=None, message=TensorProto):
    """A TensorProto of `values` (an array, a nested list, a scalar), of `dtype` (a
    DataType name or number, or a numpy dtype) if given, else the values' own; built
    as `message`, ours or any class with TensorProto's fields."""
    if is_tensor_proto(values):
        return as_tensor_proto(values, message)
    wanted = None if dtype is None else dtype_name(dtype)
    array = _as_array(values, None if wanted is None else numpy_dtype(wanted))
    name = wanted or dtype_name(array.dtype)
    proto = message(dtype=DATA_TYPES[name])
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


@dataclass(frozen=True)
class TensorSize:
    """What a TensorProto declares (elements, and bytes once decoded, filling included),
    carries (values sent), and the bytes filling the elements not sent adds."""

    elements: int
    bytes: int
    carried: int
    filled: int = 0


def declared_shape(proto) -> tuple[int, ...]:
    """The shape a TensorProto declares; ValueError unless it is fully defined."""
    if proto.tensor_shape.unknown_rank:
        raise ValueError("the tensor_shape has unknown rank; a tensor needs a fully "
                         "defined shape")
    dims = tuple(d.size for d in proto.tensor_shape.dim)
    if any(d < 0 for d in dims):
        raise ValueError(f"shape {list(dims)} has a negative dimension; a tensor needs a "
                         "fully defined shape")
    return dims


def tensor_size(proto) -> TensorSize:
    """The declared and carried sizes of a TensorProto, known before anything is built
    (a shape is filled from its last value, as TensorFlow fills it); ValueError for a
    shape or dtype that cannot be decoded, or values that do not fit the shape."""
    dims = declared_shape(proto)
    name = _NAMES.get(proto.dtype)
    if name not in _FIELDS:
        label = name or f"{proto.dtype} (no such DataType)"
        raise ValueError(f"dtype {label} cannot be sent as a tensor's values")
    elements = math.prod(dims)
    if name == "DT_STRING":
        carried = len(proto.string_val)
        per_fill = (len(proto.string_val[-1]) if carried else 0) + STRING_ELEMENT_BYTES
        sent = sum(map(len, proto.string_val)) + STRING_ELEMENT_BYTES * carried
        nbytes = sent + max(elements - carried, 0) * per_fill
    else:
        per_fill = _ITEM_BYTES[name]
        nbytes = elements * per_fill
        if proto.tensor_content:
            if len(proto.tensor_content) != nbytes:
                raise ValueError(f"shape {list(dims)} declares {elements} elements "
                                 f"({nbytes} bytes) but tensor_content holds "
                                 f"{len(proto.tensor_content)} bytes")
            carried = elements
        else:
            carried = len(getattr(proto, _FIELDS[name]))
            carried //= 2 if name in ("DT_COMPLEX64", "DT_COMPLEX128") else 1
    if carried > elements:
        raise ValueError(f"shape {list(dims)} declares {elements} elements but the tensor "
                         f"carries {carried} values")
    return TensorSize(elements, nbytes, carried, (elements - carried) * per_fill)


def make_ndarray(proto) -> np.ndarray:
    """The array a TensorProto holds (strings as `bytes` in an object array)."""
    shape = declared_shape(proto)
    name = dtype_name(proto.dtype)
    dtype = numpy_dtype(name)
    count = math.prod(shape)
    if tensor_size(proto).bytes >= _MAX_BYTES:
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
