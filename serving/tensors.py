"""Checking request tensors against a SignatureDef, as TF Serving does before running."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from serving.errors import InvalidArgument


def dtype_name(enum: int) -> str:
    """`DT_FLOAT`-style name of a DataType enum, as saved_model_cli prints it; a
    number no DataType has (a request may carry any) is given as the number."""
    try:
        return types_pb2.DataType.Name(enum)
    except ValueError:
        return f"{enum} (no such DataType)"


def check_inputs(signature_key: str, signature: meta_graph_pb2.SignatureDef,
                 inputs: Mapping[str, np.ndarray]) -> None:
    """Raises InvalidArgument naming the first input that is missing, extra, or of
    the wrong dtype or shape."""
    expected = signature.inputs
    for key in inputs:
        if key not in expected:
            raise InvalidArgument(
                f"input tensor alias not found in signature: {key}. Inputs expected to be "
                f"in the set {{{','.join(sorted(expected))}}}."
            )
    missing = sorted(set(expected) - set(inputs))
    if missing:
        raise InvalidArgument(
            f"Missing input(s) {', '.join(missing)} for signature {signature_key!r}. "
            f"Inputs expected to be in the set {{{','.join(sorted(expected))}}}."
        )
    for key, value in inputs.items():
        _check_one(key, expected[key], value)


def check_rows(signature: meta_graph_pb2.SignatureDef, inputs: Mapping[str, np.ndarray],
               max_rows: int) -> None:
    """Raises InvalidArgument when an input whose first dimension the signature leaves
    open (-1: the batch) carries more than `max_rows` rows; 0 means no limit."""
    rows = [len(value) for key, value in inputs.items()
            if np.ndim(value) and _open_batch(signature.inputs[key])]
    check_row_count(max(rows, default=0), max_rows)


def check_row_count(rows: int, max_rows: int) -> None:
    """Raises InvalidArgument when `rows` exceeds `max_rows` (0: no limit)."""
    if max_rows and rows > max_rows:
        raise InvalidArgument(
            f"the request has {rows} rows, more than the server's limit of {max_rows} "
            f"rows per request (--max_request_rows); split it into requests of at most "
            f"{max_rows} rows")


def _open_batch(info: meta_graph_pb2.TensorInfo) -> bool:
    shape = info.tensor_shape
    return shape.unknown_rank or not shape.dim or shape.dim[0].size < 0


def check_output_filter(signature: meta_graph_pb2.SignatureDef, names: list[str]) -> None:
    """Raises InvalidArgument for an output_filter entry the signature lacks."""
    for name in names:
        if name not in signature.outputs:
            raise InvalidArgument(
                f"output tensor alias not found in signature: {name}. Outputs expected to "
                f"be in the set {{{','.join(sorted(signature.outputs))}}}."
            )


def _check_one(key: str, info: meta_graph_pb2.TensorInfo, value: np.ndarray) -> None:
    want = tf.dtypes.as_dtype(info.dtype)
    got = tf.dtypes.as_dtype(value.dtype) if value.dtype != object else tf.string
    if want != got:
        raise InvalidArgument(
            f"input '{key}' expects {dtype_name(want.as_datatype_enum)} but the request "
            f"sent {dtype_name(got.as_datatype_enum)}; send a tensor of dtype "
            f"{dtype_name(want.as_datatype_enum)}"
        )
    if info.tensor_shape.unknown_rank:
        return
    dims = [d.size for d in info.tensor_shape.dim]
    mismatch = len(dims) != value.ndim or any(
        d >= 0 and d != n for d, n in zip(dims, value.shape, strict=True))
    if mismatch:
        raise InvalidArgument(
            f"input '{key}' expects shape {_shape(dims)} but the request sent "
            f"{list(value.shape)} (-1 is any size)"
        )


def _shape(dims: list[int]) -> str:
    return "[" + ",".join(str(d) for d in dims) + "]"
