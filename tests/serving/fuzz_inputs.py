"""Seeded generators of hostile requests for the fuzz test: PredictRequests with
random dtypes, shapes, values and names; their serialized bytes mutated; and REST
bodies that are malformed, deep, huge or of the wrong types.

Every generator takes a `random.Random`, so a failing case is reproduced from the
seed and its index alone.
"""

from __future__ import annotations

import base64
import json
import random

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    predict_pb2,
    regression_pb2,
)

MODEL = "doubler"
GOOD_X = np.array([[1.0, 2.0]], np.float32)

# Every enum (reference types included) and numbers no DataType has; the dtypes
# a request can carry, several times over.
_CARRIED = [types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE, types_pb2.DT_INT32, types_pb2.DT_INT8,
            types_pb2.DT_UINT8, types_pb2.DT_UINT16, types_pb2.DT_INT64, types_pb2.DT_BOOL,
            types_pb2.DT_STRING, types_pb2.DT_HALF, types_pb2.DT_BFLOAT16,
            types_pb2.DT_COMPLEX64, types_pb2.DT_QINT8, types_pb2.DT_UINT64]
DTYPES = [*types_pb2.DataType.values(), 999, 2**31 - 1, *_CARRIED * 4]
HUGE_DIMS = [-1, -7, 2**31, 2**40, 2**62, 2**63 - 1]
KEYS = ["x", "x", "text", "image", "", "y", "\u2603", "x" * 300]
MODELS = [MODEL, MODEL, MODEL, "", "nope", "doubler ", "../doubler", "\u00e9t\u00e9"]
SIGNATURES = ["", "", "serving_default", "shout", "decode", "nope", "__saved_model_init_op"]
OUTPUTS = ["y", "total", "upper", "shape", "", "nope"]
VALUE_FIELDS = ["float_val", "double_val", "int_val", "int64_val", "bool_val", "string_val",
                "half_val", "scomplex_val", "dcomplex_val", "uint32_val", "uint64_val"]
_NUMBERS = {  # each field's extremes, so narrow dtypes see values they cannot hold
    "float_val": [0.0, -1.5, 3.4e38, float("nan"), float("inf")],
    "double_val": [0.0, 1e308, float("-inf")], "scomplex_val": [1.0, float("nan")],
    "dcomplex_val": [2.0, -1e300], "int_val": [0, 1, -1, 255, 256, -129, 2**31 - 1, -2**31],
    "half_val": [0, 15360, 65535, 65536, -1, 2**31 - 1],
    "int64_val": [0, -1, 2**63 - 1, -2**63], "bool_val": [True, False],
    "uint32_val": [0, 2**32 - 1], "uint64_val": [0, 2**64 - 1],
}
# The numpy arrays a well-meaning client might send, of every dtype it could pick.
NUMPY_DTYPES = [np.float32, np.float32, np.float64, np.float16, np.int8, np.int32, np.int64,
                np.uint8, np.uint16, np.bool_, np.complex64, np.bytes_]

METHODS = {  # gRPC method: the request type it parses
    "/tensorflow.serving.PredictionService/Predict": predict_pb2.PredictRequest,
    "/tensorflow.serving.PredictionService/Classify": classification_pb2.ClassificationRequest,
    "/tensorflow.serving.PredictionService/Regress": regression_pb2.RegressionRequest,
    "/tensorflow.serving.PredictionService/MultiInference":
        inference_pb2.MultiInferenceRequest,
    "/tensorflow.serving.PredictionService/GetModelMetadata":
        get_model_metadata_pb2.GetModelMetadataRequest,
    "/tensorflow.serving.ModelService/GetModelStatus":
        get_model_status_pb2.GetModelStatusRequest,
}
PREDICT = next(iter(METHODS))


def good_request() -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(GOOD_X))
    return request


def random_tensor(rng: random.Random) -> tensor_pb2.TensorProto:
    """A TensorProto whose dtype, shape and values need not agree in any way."""
    proto = tensor_pb2.TensorProto(dtype=rng.choice(DTYPES))
    if rng.random() < 0.05:
        proto.tensor_shape.unknown_rank = True
    for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 5, 70])):
        huge = rng.random() < 0.15
        proto.tensor_shape.dim.add(size=rng.choice(HUGE_DIMS) if huge else rng.randint(0, 4))
    fill = rng.choice(["content", "values", "values", "both", "none"])
    if fill in ("content", "both"):
        proto.tensor_content = rng.randbytes(rng.choice([0, 1, 3, 4, 8, 16, rng.randint(0, 99)]))
    if fill in ("values", "both"):
        for field in rng.sample(VALUE_FIELDS, rng.choice([1, 1, 2])):
            getattr(proto, field).extend(_values(rng, field, rng.choice([0, 1, 2, 3, 8, 40])))
    return proto


def _values(rng: random.Random, field: str, count: int) -> list:
    if field == "string_val":
        return [rng.randbytes(rng.randint(0, 12)) for _ in range(count)]
    return [rng.choice(_NUMBERS[field]) for _ in range(count)]


def random_array_tensor(rng: random.Random) -> tensor_pb2.TensorProto:
    """A well-formed TensorProto of a random numpy dtype and small shape."""
    dtype = rng.choice(NUMPY_DTYPES)
    shape = [rng.randint(0, 3) for _ in range(rng.choice([0, 1, 2, 2, 3]))]
    if dtype is np.bytes_:
        values = [rng.randbytes(rng.randint(0, 8)) for _ in range(int(np.prod(shape)))]
        return tf.make_tensor_proto(np.array(values, dtype=object).reshape(shape))
    return tf.make_tensor_proto((np.arange(np.prod(shape)) % 7).reshape(shape).astype(dtype))


def amplifying_tensor(rng: random.Random) -> tensor_pb2.TensorProto:
    """A tensor that would cost far more than it carries: one string (empty or long)
    declared many times, or an `[N, 0]` shape with a huge N."""
    if rng.random() < 0.5:
        value = rng.choice([b"", b"x", b"y" * 100_000])
        proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[value])
        proto.tensor_shape.dim.add(size=rng.choice([3, 5000, 1_000_000, 2**31]))
        return proto
    proto = tensor_pb2.TensorProto(dtype=rng.choice([types_pb2.DT_FLOAT, types_pb2.DT_STRING]))
    proto.tensor_shape.dim.add(size=rng.choice([1001, 1_000_000, 2**40]))
    proto.tensor_shape.dim.add(size=0)
    return proto


def random_request(rng: random.Random) -> predict_pb2.PredictRequest:
    """A PredictRequest with random names, version choice, tensors and output_filter."""
    request = good_request() if rng.random() < 0.3 else predict_pb2.PredictRequest()
    spec = request.model_spec
    spec.name = rng.choice(MODELS)
    spec.signature_name = rng.choice(SIGNATURES)
    version = rng.random()
    if version < 0.2:
        spec.version.value = rng.choice([0, 1, 2, -1, 2**63 - 1, -2**63])
    elif version < 0.3:
        spec.version_label = rng.choice(["stable", "", "\u2603", "x" * 200])
    for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):
        make = rng.choices([random_array_tensor, random_tensor, amplifying_tensor],
                           [4, 5, 1])[0]
        request.inputs[rng.choice(KEYS)].CopyFrom(make(rng))
    if rng.random() < 0.2:
        request.output_filter.extend(rng.choices(OUTPUTS, k=rng.randint(1, 3)))
    return request


def context_request(rng: random.Random) -> classification_pb2.ClassificationRequest:
    """A Classify or Regress request whose shared context, copied into each of many
    examples, would be far larger than the request."""
    request = rng.choice([classification_pb2.ClassificationRequest,
                          regression_pb2.RegressionRequest])()
    request.model_spec.name = rng.choice([MODEL, "examples"])
    with_context = request.input.example_list_with_context
    feature = with_context.context.features.feature[rng.choice(["x", "pad"])]
    feature.bytes_list.value.append(b"p" * rng.choice([10, 100_000, 1_000_000]))
    for _ in range(rng.choice([1, 50, 2000])):
        with_context.examples.add().features.feature["x"].float_list.value.append(1.0)
    return request


def mutated_bytes(rng: random.Random) -> tuple[str, bytes]:
    """A gRPC method and a request for it: serialized, then truncated, garbled,
    spliced or replaced by random bytes."""
    method = PREDICT if rng.random() < 0.6 else rng.choice(list(METHODS))
    data = bytearray((random_request(rng) if rng.random() < 0.7 else good_request())
                     .SerializeToString())
    how = rng.choice(["truncate", "flip", "insert", "random", "repeat"])
    if how == "truncate" and data:
        del data[rng.randrange(len(data)):]
    elif how == "flip" and data:
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif how == "insert":
        at = rng.randint(0, len(data))
        data[at:at] = rng.randbytes(rng.randint(1, 16))
    elif how == "random":
        data = bytearray(rng.randbytes(rng.choice([0, 1, 5, 64, 2048])))
    else:
        data = data * rng.randint(2, 4)
    return method, bytes(data)


def parses(method: str, data: bytes) -> bool:
    """Whether `data` is a request of `method` to protobuf's own parser."""
    try:
        METHODS[method].FromString(data)
    except Exception:  # noqa: BLE001 - protobuf's DecodeError, whatever its module
        return False
    return True


REST_PATHS = [f"/v1/models/{MODEL}:predict"] * 6 + [
    f"/v1/models/{MODEL}/versions/1:predict", f"/v1/models/{MODEL}/versions/-5:predict",
    f"/v1/models/{MODEL}/versions/{10**30}:predict", f"/v1/models/{MODEL}/labels/x:predict",
    f"/v1/models/{MODEL}:classify", f"/v1/models/{MODEL}:regress", "/v1/models/nope:predict",
    f"/v1/models/{MODEL}:explode", f"/v1/models/{MODEL}/metadata", "/v1/models/:predict",
]
_JSON_KEYS = ["instances", "inputs", "signature_name", "x", "text", "image", "b64",
              "examples", "context", ""]


def random_json(rng: random.Random, depth: int = 0) -> object:
    """A JSON value of random type, shaped now and then like a Predict body."""
    kind = rng.choice(["number", "number", "string", "list", "list", "object", "b64",
                       "bool", "null"] if depth < 6 else ["number", "string", "null"])
    if kind == "number":
        return rng.choice([0, 1, -1, 2.5, 1e308, -1e-300, 2**70, float("nan"),
                           float("inf"), rng.random()])
    if kind == "string":
        return rng.choice(["", "a", "\u2603", "\ud800x", "x" * 100, "AAAA"])
    if kind == "list":
        return [random_json(rng, depth + 1) for _ in range(rng.choice([0, 1, 2, 2, 3]))]
    if kind == "object":
        return {rng.choice(_JSON_KEYS): random_json(rng, depth + 1)
                for _ in range(rng.randint(0, 3))}
    if kind == "b64":
        return {"b64": rng.choice(["", "AAAA", "!!!", "QQ", 5, None,
                                   base64.b64encode(rng.randbytes(6)).decode()])}
    return rng.choice([True, False, None])


def random_rest(rng: random.Random) -> tuple[str, bytes]:
    """A REST path and body: random JSON, a Predict body with random parts, strings
    for the string signatures, tf.Examples, deep nesting, huge numbers, invalid
    UTF-8, or a good body truncated or garbled."""
    path = rng.choice(REST_PATHS)
    good = json.dumps({"instances": GOOD_X.tolist()}).encode()
    kind = rng.choice(["json", "predict", "predict", "strings", "examples", "deep", "huge",
                       "utf8", "cut", "garble", "empty arrays", "context"])
    if kind == "empty arrays":  # [N, 0]: nothing to decode, N lists to parse
        count = rng.choice([10, 2000, 200_000])
        return path, b'{"instances": [' + b",".join([b"[]"] * count) + b"]}"
    if kind == "context":  # one context, copied into every example
        return f"/v1/models/{MODEL}:classify", json.dumps({
            "context": {"pad": "p" * rng.choice([10, 50_000])},
            "examples": [{"x": 1.0}] * rng.choice([1, 500, 5000])}).encode()
    if kind == "json":
        return path, json.dumps(random_json(rng)).encode()
    if kind == "predict":
        body = {rng.choice(["instances", "inputs"]): random_json(rng, 1)}
        if rng.random() < 0.3:
            body["signature_name"] = rng.choice([*SIGNATURES, 5, None, ["shout"], {}])
        return path, json.dumps(body).encode()
    if kind == "strings":
        values = [random_json(rng, 5) for _ in range(rng.randint(0, 4))]
        return path, json.dumps({"signature_name": rng.choice(["shout", "decode"]),
                                 rng.choice(["instances", "inputs"]): values}).encode()
    if kind == "examples":
        example = {rng.choice(["x", "", "\ud800"]): rng.choice(
            [1, 2.5, 2**63, 2**64, 10**30, 10**400, "\udfff", "a", [1, 2.5], [True, "a"],
             {"b64": "QQ=="}, {"b64": 1}, None, [[1]]]) for _ in range(rng.randint(0, 2))}
        body = {"examples": [example] * rng.randint(0, 2)}
        if rng.random() < 0.3:
            body["context"] = rng.choice([example, 3, []])
        return rng.choice([f"/v1/models/{MODEL}:classify", f"/v1/models/{MODEL}:regress",
                           path]), json.dumps(body).encode()
    if kind == "deep":
        depth = rng.choice([99, 100, 101, 5000, 200000])
        opener, closer = rng.choice([("[", "]"), ('{"a":', "}"), ('[{"b64":', "}]")])
        return path, (opener * depth + "1" + closer * rng.choice([depth, 0])).encode()
    if kind == "huge":
        number = rng.choice(["1e400", "-1e400", "9" * 5000, "1" + "0" * 400, "0." + "0" * 5000])
        return path, f'{{"instances": [[{number}, 1]]}}'.encode()
    if kind == "utf8":
        return path, (b'{"instances": ["' + rng.randbytes(8) + b'\xff\xfe"], '
                      b'"signature_name": "shout"}')
    if kind == "cut":
        return path, good[:rng.randrange(len(good))]
    garbled = bytearray(good)
    garbled[rng.randrange(len(garbled))] = rng.randrange(256)
    return path, bytes(garbled)


OIP_DATATYPES = ["FP32", "FP32", "FP64", "INT32", "INT8", "UINT64", "BOOL", "BYTES", "FP16",
                 "BF16", "", "fp32", "STRING"]
OIP_SHAPES = [[1, 2], [1, 2], [2], [], [0, 2], [-1, 2], [2**31, 2], [2**62, 2**62], [3, 1, 2]]


def random_oip_tensor(rng: random.Random) -> dict:
    """One OIP input: a random name, datatype and shape, data of any kind."""
    tensor = {"name": rng.choice(KEYS), "datatype": rng.choice(OIP_DATATYPES),
              "shape": rng.choice([*OIP_SHAPES, [1.5], ["a"], None])}
    if rng.random() < 0.8:
        tensor["data"] = rng.choice([[1.0, 2.0], [[1, 2]], ["a", "b"], [], random_json(rng, 1)])
    return tensor


def random_oip_rest(rng: random.Random) -> tuple[str, dict[str, str], bytes]:
    """An OIP infer path, headers and body: JSON tensors, or the binary extension with
    header lengths and binary_data_size that may not add up."""
    path = f"/v2/models/{rng.choice(MODELS)}{rng.choice(['', '/versions/1', '/versions/x'])}/infer"
    body = {"inputs": [random_oip_tensor(rng) for _ in range(rng.choice([0, 1, 1, 2]))]}
    if rng.random() < 0.3:
        body["outputs"] = [{"name": rng.choice(OUTPUTS),
                            "parameters": {"binary_data": rng.choice([True, False, 1, "x"])}}]
    if rng.random() < 0.2:
        body["parameters"] = {"signature_name": rng.choice([*SIGNATURES, 5]),
                              "binary_data_output": rng.choice([True, False])}
    if rng.random() < 0.1:  # anything at all, sent as JSON
        return path, {"Content-Type": "application/json"}, json.dumps(random_json(rng)).encode()
    header = json.dumps(body).encode()
    if rng.random() < 0.5:
        return path, {"Content-Type": "application/json"}, header
    binary = rng.randbytes(rng.choice([0, 4, 8, 13, 64]))
    for tensor in body["inputs"]:
        if rng.random() < 0.7:
            tensor.pop("data", None)
            tensor["parameters"] = {"binary_data_size": rng.choice([0, 4, 8, 64, -1, 10**12])}
    header = json.dumps(body).encode()
    length = rng.choice([len(header), len(header), len(header) + 1, 0, 10**9])
    return path, {"Inference-Header-Content-Length": str(length),
                  "Content-Type": "application/octet-stream"}, header + binary


def random_infer_request(rng: random.Random):
    """A gRPC ModelInferRequest: typed contents or raw bytes, any datatype and shape."""
    from tritonclient.grpc import service_pb2

    request = service_pb2.ModelInferRequest(model_name=rng.choice(MODELS),
                                            model_version=rng.choice(["", "", "1", "x"]))
    raw = rng.random() < 0.5
    for _ in range(rng.choice([0, 1, 1, 2])):
        shape = rng.choice([s for s in OIP_SHAPES if all(d >= 0 for d in s)] + [[-1, 2]])
        tensor = request.inputs.add(name=rng.choice(KEYS), datatype=rng.choice(OIP_DATATYPES),
                                    shape=shape)
        if raw:
            request.raw_input_contents.append(rng.randbytes(rng.choice([0, 4, 8, 13])))
        else:
            tensor.contents.fp32_contents.extend([1.0, 2.0][:rng.randint(0, 2)])
            tensor.contents.bytes_contents.extend([b"a"] * rng.randint(0, 2))
    if rng.random() < 0.3:
        request.outputs.add(name=rng.choice(OUTPUTS))
    if rng.random() < 0.2:
        request.parameters["signature_name"].string_param = rng.choice(SIGNATURES)
    return request
