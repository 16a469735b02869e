"""TF Serving's JSON mapping for REST: request bodies to arrays, outputs to JSON.

Row format (`instances` -> `predictions`) and columnar format (`inputs` ->
`outputs`); binary strings travel as `{"b64": "..."}`, which outputs use for
tensors whose alias ends in `_bytes` and for bytes that are not UTF-8.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping

import numpy as np
import tensorflow as tf
from tensorflow.core.example import example_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import classification_pb2, input_pb2, regression_pb2

from contract.tensor_codec import STRING_ELEMENT_BYTES
from serving.errors import InvalidArgument
from serving.tensor_protos import DEFAULT_MAX_REQUEST_TENSOR_BYTES

ROW, COLUMNAR = "row", "columnar"

# Arrays and objects nested deeper than this are refused before parsing: Python's
# json module recurses once a level. A rank-32 tensor of {"b64": ...} objects in a
# row-format body nests 35 deep.
MAX_JSON_DEPTH = 100
# What Python's objects parsed from one body may take (about 32 bytes a number, 64 an
# array): room for a 64 MB body of floats, not for 20 million `[]` in 60 MB.
DEFAULT_MAX_PARSED_BODY_BYTES = 256 * 1024 * 1024

_SCAN_CHUNK = 1 << 18
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_NESTING = np.zeros(256, np.int64)  # +1 opens a level, -1 closes one
_NESTING[[ord("["), ord("{")]] = 1
_NESTING[[ord("]"), ord("}")]] = -1
_OPEN_ARRAY, _OPEN_OBJECT, _COMMA, _COLON = (ord(c) for c in "[{,:")


def parse_body(raw: bytes, max_depth: int = MAX_JSON_DEPTH,
               max_parsed_bytes: int = DEFAULT_MAX_PARSED_BODY_BYTES) -> object:
    """A request body's JSON value, read as TF Serving reads it (util/json_tensor.cc,
    ParseJson): UTF-8 with a leading byte-order mark skipped (RapidJSON's
    EncodedInputStream<UTF8>) and no other encoding sniffed, so UTF-16 is malformed;
    anything after the first complete value ignored (kParseStopWhenDoneFlag).
    InvalidArgument for an empty body, nesting deeper than `max_depth` or a parsed
    value estimated above `max_parsed_bytes` (both found before parsing), malformed
    JSON, or a number beyond a double's range."""
    if not raw.strip():
        raise InvalidArgument("JSON Parse error: The document is empty")
    check_structure(raw, max_depth, max_parsed_bytes)
    big_numbers = _MAYBE_TOO_BIG.search(raw) is not None
    decoder = json.JSONDecoder(parse_float=_finite_float if big_numbers else None)
    try:
        text = raw.removeprefix(_UTF8_BOM).decode("utf-8")
        body, _ = decoder.raw_decode(text, _LEADING_SPACE.match(text).end())
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidArgument(f"JSON Parse error: {e}") from e
    if (b"\\ud" in raw or b"\\uD" in raw) and _has_lone_surrogate(body):
        # Python's parser keeps an unpaired "\ud800" escape; TF Serving's refuses it
        raise InvalidArgument("JSON Parse error: The surrogate pair in string is invalid.")
    return body


_UTF8_BOM = b"\xef\xbb\xbf"
_LEADING_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace


# A number literal that may overflow a double: a 3-digit exponent or 309 digits.
_MAYBE_TOO_BIG = re.compile(rb"[eE][+]?0*[1-9][0-9]{2}|[0-9]{309}")


def _finite_float(text: str) -> float:
    """A JSON number as Python reads it, refused where RapidJSON (TF Serving's parser)
    refuses it: beyond a double's range, which Python would read as infinity."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"Number too big to be stored in double: {text[:40]}")
    return value


def _has_lone_surrogate(value: object) -> bool:
    """Whether a string anywhere in a parsed JSON value (keys included) holds a
    surrogate code point, which no UTF-8 text can carry."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def parsed_bytes(arrays: int, objects: int, separators: int, text: int) -> int:
    """Roughly what Python's json module builds from a body: a list, a dict and a
    number or key cost it about 64, 160 and 32 bytes, strings their length."""
    return 64 * arrays + 160 * objects + 32 * separators + text


def check_structure(raw: bytes, max_depth: int = MAX_JSON_DEPTH,
                    max_parsed_bytes: int = DEFAULT_MAX_PARSED_BODY_BYTES) -> None:
    """InvalidArgument if arrays and objects in the JSON text `raw` nest deeper than
    `max_depth`, or if parsing it would build more than `max_parsed_bytes` of Python
    objects (a 60 MB body of `[],` is 20 million lists); found by one linear scan (no
    recursion) that skips brackets and commas inside strings. Text after a syntax
    error may be misread, but the parser stops there."""
    counts = [raw.count(b"["), raw.count(b"{"), raw.count(b",") + raw.count(b":")]
    cheap = counts[0] + counts[1] <= max_depth
    if cheap and parsed_bytes(*counts, len(raw)) <= max_parsed_bytes:
        return  # even counting inside strings, within both limits
    data = np.frombuffer(raw, np.uint8)
    depth, in_string, odd_backslashes = 0, 0, 0
    arrays = objects = separators = 0
    for start in range(0, len(data), _SCAN_CHUNK):
        chunk = data[start:start + _SCAN_CHUNK]
        # a quote is escaped when an odd run of backslashes ends right before it
        position = np.arange(len(chunk))
        backslash = chunk == _BACKSLASH
        last_other = np.maximum.accumulate(np.where(backslash, -1, position))
        run = position - last_other + np.where(last_other < 0, odd_backslashes, 0)
        before = np.concatenate(([odd_backslashes], run[:-1] % 2))
        quote = (chunk == _QUOTE) & (before == 0)
        inside = (np.cumsum(quote) + in_string) % 2 == 1  # a closing quote is outside
        outside = chunk[~inside]
        levels = depth + np.cumsum(np.where(inside, 0, _NESTING[chunk]))
        if levels.max(initial=depth) > max_depth:
            offset = start + int(np.argmax(levels > max_depth))
            raise InvalidArgument(
                f"JSON Parse error: arrays and objects nest deeper than {max_depth} levels "
                f"at offset: {offset}; no request tensor needs more")
        arrays += int(np.count_nonzero(outside == _OPEN_ARRAY))
        objects += int(np.count_nonzero(outside == _OPEN_OBJECT))
        separators += int(np.count_nonzero((outside == _COMMA) | (outside == _COLON)))
        depth, in_string = int(levels[-1]), int(inside[-1])
        odd_backslashes = int(run[-1] % 2)
    estimate = parsed_bytes(arrays, objects, separators, len(raw))
    if estimate > max_parsed_bytes:
        raise InvalidArgument(
            f"the request body holds {arrays} arrays, {objects} objects and {separators} "
            f"values, which would take about {estimate} bytes once parsed, more than the "
            f"server's limit of {max_parsed_bytes} bytes per request "
            "(--rest_max_parsed_body_bytes); send fewer values per request, or large "
            "tensors over gRPC")


def predict_inputs(body: object, signature: meta_graph_pb2.SignatureDef,
                   max_bytes: int = DEFAULT_MAX_REQUEST_TENSOR_BYTES,
                   ) -> tuple[dict[str, np.ndarray], str]:
    """The input arrays of a `:predict` body, and which format it used; refused
    before any array is built if together they would take more than `max_bytes`."""
    if not isinstance(body, dict):
        raise InvalidArgument("the request body must be a JSON object")
    has_rows, has_columns = "instances" in body, "inputs" in body
    if has_rows == has_columns:
        raise InvalidArgument('the request body must have exactly one of "instances" (row '
                              'format) or "inputs" (columnar format)')
    keys = list(signature.inputs)
    if has_rows:
        return _to_arrays(_from_rows(body["instances"], keys), signature, max_bytes), ROW
    columns = body["inputs"]
    if not (isinstance(columns, dict) and set(columns) <= set(keys) and columns):
        columns = {keys[0]: columns} if len(keys) == 1 else columns
    if not isinstance(columns, dict):
        raise InvalidArgument(f'"inputs" must be an object keyed by input name: {keys}')
    return _to_arrays(columns, signature, max_bytes), COLUMNAR


def _from_rows(rows: object, keys: list[str]) -> dict[str, object]:
    """Row-format instances as one JSON value per input key."""
    if not isinstance(rows, list) or not rows:
        raise InvalidArgument('"instances" must be a non-empty list, one entry per example')
    named = all(isinstance(row, dict) and "b64" not in row for row in rows)
    if not named:
        if len(keys) != 1:
            raise InvalidArgument(f"this signature has several inputs {keys}: give each "
                                  "instance as an object keyed by input name")
        return {keys[0]: rows}
    columns: dict[str, list] = {}
    for index, row in enumerate(rows):
        if set(row) != set(rows[0]):
            raise InvalidArgument(f"instance {index} has keys {sorted(row)} but instance 0 "
                                  f"has {sorted(rows[0])}; every instance needs the same keys")
        for key, value in row.items():
            columns.setdefault(key, []).append(value)
    return columns


def _to_arrays(columns: Mapping[str, object], signature: meta_graph_pb2.SignatureDef,
               max_bytes: int) -> dict[str, np.ndarray]:
    """Each input's JSON value as an array, once their sizes are known to fit."""
    values = {key: _decode_b64(value, f"input '{key}'") for key, value in columns.items()}
    sizes = {key: _declared(value, signature.inputs.get(key)) for key, value in values.items()}
    total = sum(nbytes for _, _, nbytes in sizes.values())
    if total > max_bytes:
        declared = ", ".join(f"'{key}' shape {shape} {dtype} ({nbytes} bytes)"
                             for key, (shape, dtype, nbytes) in sizes.items())
        raise InvalidArgument(
            f"the request's tensors would decode to {total} bytes, more than the server's "
            f"limit of {max_bytes} bytes per request (--max_request_tensor_bytes): "
            f"{declared}")
    return {key: _as_array(value, signature.inputs.get(key), key)
            for key, value in values.items()}


def _declared(value: object, info: meta_graph_pb2.TensorInfo | None,
              ) -> tuple[list[int], str, int]:
    """The shape a (b64-decoded) JSON value gives, its dtype's name, and the bytes it
    takes as an array: counted from list lengths, without building it."""
    shape, item = [], value
    while isinstance(item, list):  # the first entry of each level; ragged fails later
        shape.append(len(item))
        item = item[0] if item else None
    elements = math.prod(shape)
    dtype = tf.dtypes.as_dtype(info.dtype) if info is not None else tf.string
    if dtype != tf.string:
        return shape, dtype.name, elements * dtype.size
    text, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, (bytes, str)):
            text += len(item) if isinstance(item, bytes) else len(item.encode("utf-8"))
    return shape, dtype.name, text + STRING_ELEMENT_BYTES * elements  # as for protos


def to_array(value: object, info: meta_graph_pb2.TensorInfo | None, key: str) -> np.ndarray:
    """A JSON value as an array of the signature's dtype for `key` (strings stay
    bytes; b64 objects are decoded)."""
    return _as_array(_decode_b64(value, f"input '{key}'"), info, key)


def _as_array(value: object, info: meta_graph_pb2.TensorInfo | None, key: str) -> np.ndarray:
    if info is None:  # an unknown key: the data plane reports it by name
        return np.asarray(value, dtype=object)
    dtype = tf.dtypes.as_dtype(info.dtype)
    try:
        if dtype == tf.string:
            array = np.asarray(_utf8(value), dtype=object)
            if not all(isinstance(item, bytes) for item in array.flat):
                raise ValueError("ragged or non-string values")
            return array
        array = np.asarray(value)
        if array.dtype == object or array.dtype.kind in "USb" and dtype != tf.bool:
            raise ValueError("ragged or non-numeric values")
        with np.errstate(over="ignore"):  # a double beyond float32 is inf, as in C++
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
        values = [_feature_number(name, v) for v in (value if isinstance(value, list)
                                                      else [value])]
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


def _feature_number(name: str, value: object) -> object:
    """An integer as TF Serving's JSON parser reads it: an int64; one in uint64's
    range is refused; a larger one is a double (refused when too big for one)."""
    if isinstance(value, bool) or not isinstance(value, int) or -2**63 <= value < 2**63:
        return value
    if value < 2**64:
        raise InvalidArgument(f"Feature: {name} has uint64 element. Only int64 is supported.")
    try:
        return float(value)
    except OverflowError as e:
        raise InvalidArgument(f"JSON Parse error: Number too big to be stored in double: "
                              f"feature {name}") from e


def classify_json(result: classification_pb2.ClassificationResult) -> dict:
    return {"results": [[[c.label, c.score] for c in row.classes]
                        for row in result.classifications]}


def regress_json(result: regression_pb2.RegressionResult) -> dict:
    return {"results": [r.value for r in result.regressions]}
