"""TF Serving's JSON mapping for REST: request bodies to arrays, outputs to JSON.

Row format (`instances` -> `predictions`) and columnar format (`inputs` ->
`outputs`); binary strings travel as `{"b64": "..."}`, which outputs use for
tensors whose alias ends in `_bytes` and for bytes that are not UTF-8.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

import numpy as np
import tensorflow as tf
from tensorflow.core.example import example_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import classification_pb2, input_pb2, regression_pb2

from serving.errors import InvalidArgument

ROW, COLUMNAR = "row", "columnar"


def predict_inputs(body: object, signature: meta_graph_pb2.SignatureDef,
                   ) -> tuple[dict[str, np.ndarray], str]:
    """The input arrays of a `:predict` body, and which format it used."""
    if not isinstance(body, dict):
        raise InvalidArgument("the request body must be a JSON object")
    has_rows, has_columns = "instances" in body, "inputs" in body
    if has_rows == has_columns:
        raise InvalidArgument('the request body must have exactly one of "instances" (row '
                              'format) or "inputs" (columnar format)')
    keys = list(signature.inputs)
    if has_rows:
        return _from_rows(body["instances"], keys, signature), ROW
    columns = body["inputs"]
    if not (isinstance(columns, dict) and set(columns) <= set(keys) and columns):
        columns = {keys[0]: columns} if len(keys) == 1 else columns
    if not isinstance(columns, dict):
        raise InvalidArgument(f'"inputs" must be an object keyed by input name: {keys}')
    return {key: to_array(value, signature.inputs.get(key), key)
            for key, value in columns.items()}, COLUMNAR


def _from_rows(rows: object, keys: list[str], signature) -> dict[str, np.ndarray]:
    if not isinstance(rows, list) or not rows:
        raise InvalidArgument('"instances" must be a non-empty list, one entry per example')
    named = all(isinstance(row, dict) and "b64" not in row for row in rows)
    if not named:
        if len(keys) != 1:
            raise InvalidArgument(f"this signature has several inputs {keys}: give each "
                                  "instance as an object keyed by input name")
        return {keys[0]: to_array(rows, signature.inputs[keys[0]], keys[0])}
    columns: dict[str, list] = {}
    for index, row in enumerate(rows):
        if set(row) != set(rows[0]):
            raise InvalidArgument(f"instance {index} has keys {sorted(row)} but instance 0 "
                                  f"has {sorted(rows[0])}; every instance needs the same keys")
        for key, value in row.items():
            columns.setdefault(key, []).append(value)
    return {key: to_array(values, signature.inputs.get(key), key)
            for key, values in columns.items()}


def to_array(value: object, info: meta_graph_pb2.TensorInfo | None, key: str) -> np.ndarray:
    """A JSON value as an array of the signature's dtype for `key` (strings stay
    bytes; b64 objects are decoded)."""
    value = _decode_b64(value, f"input '{key}'")
    if info is None:  # an unknown key: the data plane reports it by name
        return np.asarray(value, dtype=object)
    dtype = tf.dtypes.as_dtype(info.dtype)
    try:
        if dtype == tf.string:
            return np.asarray(_utf8(value), dtype=object)
        array = np.asarray(value)
        if array.dtype == object or array.dtype.kind in "USb" and dtype != tf.bool:
            raise ValueError("ragged or non-numeric values")
        return array.astype(dtype.as_numpy_dtype)
    except (ValueError, TypeError) as e:
        raise InvalidArgument(f"input '{key}' could not be read as {dtype.name}: {e}; "
                              "give a (nested) list of numbers of one rectangular shape") from e


def _decode_b64(value: object, what: str) -> object:
    """`value` with every {"b64": ...} object decoded; `what` names it in errors."""
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str):
            raise InvalidArgument(f'{what}: objects inside values must be {{"b64": '
                                  '"<base64 string>"}')
        try:
            return base64.b64decode(value["b64"], validate=True)
        except binascii.Error as e:
            raise InvalidArgument(f"{what}: invalid base64 data: {e}") from e
    if isinstance(value, list):
        return [_decode_b64(item, what) for item in value]
    return value


def _utf8(value: object) -> object:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, list):
        return [_utf8(item) for item in value]
    return value


def predict_response(outputs: Mapping[str, np.ndarray], fmt: str) -> dict:
    """The JSON body answering `:predict` in the request's format."""
    encoded = {key: to_json(value, key) for key, value in outputs.items()}
    if fmt == COLUMNAR:
        return {"outputs": next(iter(encoded.values())) if len(encoded) == 1 else encoded}
    if len(encoded) == 1:
        return {"predictions": next(iter(encoded.values()))}
    sizes = {key: len(value) for key, value in encoded.items() if isinstance(value, list)}
    if len(sizes) != len(encoded) or len(set(sizes.values())) != 1:
        raise InvalidArgument("outputs differ in batch size, so they cannot be given per "
                              'instance; use the columnar "inputs" format instead')
    count = next(iter(sizes.values()))
    return {"predictions": [{key: value[i] for key, value in encoded.items()}
                            for i in range(count)]}


def to_json(array: np.ndarray, key: str) -> object:
    """An output array as JSON values (floats keep NaN/Infinity, as TF Serving writes them)."""
    array = np.asarray(array)
    if array.dtype == object or array.dtype.kind == "S":
        as_b64 = key.endswith("_bytes")
        return _map(array.tolist(), lambda b: _string(b, as_b64))
    return array.tolist()


def _string(value: bytes, as_b64: bool) -> object:
    if not as_b64:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"b64": base64.b64encode(value).decode("ascii")}


def _map(value: object, fn) -> object:
    return [_map(item, fn) for item in value] if isinstance(value, list) else fn(value)


def examples_input(body: object) -> input_pb2.Input:
    """A `:classify`/`:regress` body (`examples`, optional `context`) as an Input proto."""
    if not isinstance(body, dict) or not isinstance(body.get("examples"), list):
        raise InvalidArgument('the request body must be a JSON object with an "examples" list')
    request_input = input_pb2.Input()
    if "context" in body:
        target = request_input.example_list_with_context
        target.context.CopyFrom(_example(body["context"]))
    else:
        target = request_input.example_list
    target.examples.extend(_example(item) for item in body["examples"])
    return request_input


def _example(features: object) -> example_pb2.Example:
    if not isinstance(features, dict):
        raise InvalidArgument("each example must be a JSON object of feature: value(s)")
    example = example_pb2.Example()
    for name, value in features.items():
        values = value if isinstance(value, list) else [value]
        feature = example.features.feature[name]
        if all(isinstance(v, (bool, int)) for v in values):
            feature.int64_list.value.extend(int(v) for v in values)
        elif all(isinstance(v, (bool, int, float)) for v in values):
            feature.float_list.value.extend(float(v) for v in values)
        elif all(isinstance(v, (str, dict)) for v in values):
            what = f"feature '{name}'"
            feature.bytes_list.value.extend(_decode_b64(v, what) if isinstance(v, dict)
                                            else v.encode("utf-8") for v in values)
        else:
            raise InvalidArgument(f"feature '{name}': values must be all numbers, or all "
                                  'strings / {"b64": ...}; got ' + json.dumps(value)[:100])
    return example


def classify_json(result: classification_pb2.ClassificationResult) -> dict:
    return {"results": [[[c.label, c.score] for c in row.classes]
                        for row in result.classifications]}


def regress_json(result: regression_pb2.RegressionResult) -> dict:
    return {"results": [r.value for r in result.regressions]}
