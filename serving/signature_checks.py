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


def check_inputs(signature: meta_graph_pb2.SignatureDef, inputs: Mapping[str, np.ndarray],
                 dtypes: Mapping[str, tf.DType]) -> None:
    """TF Serving's checks of a request's inputs (servables/tensorflow/predict_util.cc):
    as many as the signature has (fewer if it has defaults), each one it names. Shapes
    are the graph's to judge; a dtype other than the graph's is refused here, as
    Session::Run would refuse it, before it can join another request's batch."""
    expected = signature.inputs
    sent = set(inputs)
    if len(sent) > len(expected) or (len(sent) < len(expected) and not signature.defaults):
        extra, missing = sorted(sent - set(expected)), sorted(set(expected) - sent)
        raise InvalidArgument(
            f"input size does not match signature: {len(sent)}!={len(expected)} "
            f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
            f"Sent extra: {{{','.join(extra)}}}. Missing but required: "
            f"{{{','.join(missing)}}}.")
    for key in sorted(sent):
        if key not in expected:
            raise InvalidArgument(
                f"input tensor alias not found in signature: {key}. Inputs expected to be "
                f"in the set {{{','.join(sorted(expected))}}}.")
    missing = sorted(set(expected) - sent - set(signature.defaults))
    if missing:
        raise InvalidArgument(f"Missing but required: {{{','.join(missing)}}}; the "
                              "signature has no default for them")
    for key, value in inputs.items():
        want = dtypes[key]
        got = tf.string if value.dtype == object else tf.dtypes.as_dtype(value.dtype)
        if want != got:
            raise InvalidArgument(
                f"input '{key}' expects {dtype_name(want.as_datatype_enum)} but the request "
                f"sent {dtype_name(got.as_datatype_enum)}; send a tensor of dtype "
                f"{dtype_name(want.as_datatype_enum)}")


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
    """Raises InvalidArgument for an output_filter entry the signature lacks, or one
    named twice (predict_util.cc)."""
    for index, name in enumerate(names):
        if name not in signature.outputs:
            raise InvalidArgument(
                f"output tensor alias not found in signature: {name} Outputs expected to "
                f"be in the set {{{','.join(sorted(signature.outputs))}}}.")
        if name in names[:index]:
            raise InvalidArgument(f"duplicate output tensor alias: {name}")
