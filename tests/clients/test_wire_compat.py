"""The client's own TF Serving messages (`contract.protos`) against the official
classes of `tensorflow-serving-api`, and its numpy codec (`contract.tensor_codec`) against
`tf.make_tensor_proto` / `tf.make_ndarray`: the same declarations, the same bytes."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import descriptor_pool
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from clients import codecs
from clients.codecs import ClassifierCodec, QACodec, TranslatorCodec
from contract import protos
from contract import tensor_codec as tensors
from contract.endpoints import CLASSIFIER

OFFICIAL = descriptor_pool.Default()
OURS = [protos.TensorShapeProto, protos.TensorProto, protos.TensorInfo, protos.SignatureDef,
        protos.ModelSpec, protos.PredictRequest, protos.PredictResponse,
        protos.GetModelMetadataRequest, protos.GetModelMetadataResponse,
        protos.SignatureDefMap, protos.GetModelStatusRequest, protos.GetModelStatusResponse,
        protos.ModelVersionStatus, protos.StatusProto]


def official_class(message):
    """The official class of the message `ours` declares."""
    return {m.DESCRIPTOR.full_name: m for m in (
        predict_pb2.PredictRequest, predict_pb2.PredictResponse, tensor_pb2.TensorProto,
        get_model_metadata_pb2.GetModelMetadataRequest,
        get_model_metadata_pb2.GetModelMetadataResponse, get_model_metadata_pb2.SignatureDefMap,
        get_model_status_pb2.GetModelStatusRequest, get_model_status_pb2.GetModelStatusResponse,
    )}[message.DESCRIPTOR.full_name]


def same_declaration(ours, theirs, path: str) -> None:
    """Every field of `ours` is `theirs`'s: number, type, label, referred type, oneof."""
    assert ours.full_name == theirs.full_name, path
    for field in ours.fields:
        official = theirs.fields_by_name.get(field.name)
        assert official is not None, f"{path}.{field.name} is not in TF Serving's proto"
        assert (field.number, field.type, field.is_repeated, field.json_name) == (
            official.number, official.type, official.is_repeated, official.json_name), \
            f"{path}.{field.name}"
        assert ((field.containing_oneof or official).name
                == (official.containing_oneof or official).name), f"{path}.{field.name}"
        if field.enum_type:
            values = {v.name: v.number for v in official.enum_type.values}
            assert field.enum_type.full_name == official.enum_type.full_name
            assert {v.name: v.number for v in field.enum_type.values}.items() <= values.items()
        if field.message_type:
            same_declaration(field.message_type, official.message_type, f"{path}.{field.name}")
    assert ours.GetOptions().map_entry == theirs.GetOptions().map_entry, path


@pytest.mark.parametrize("message", OURS, ids=lambda m: m.DESCRIPTOR.name)
def test_each_declaration_is_tf_servings(message):
    full_name = message.DESCRIPTOR.full_name
    same_declaration(message.DESCRIPTOR, OFFICIAL.FindMessageTypeByName(full_name), full_name)


def test_data_types_are_tensorflows():
    official = {v.name: v.number for v in OFFICIAL.FindEnumTypeByName("tensorflow.DataType").values}
    assert protos.DATA_TYPES.items() <= official.items() and len(protos.DATA_TYPES) == 24


class RecordingChannel:
    def __init__(self):
        self.methods = {}

    def unary_unary(self, path, request_serializer=None, response_deserializer=None, **kwargs):
        self.methods[path] = response_deserializer
        return path


def test_stubs_call_tf_servings_method_paths():
    # the official *_grpc stubs, not prediction_service_pb2 / model_service_pb2: those two
    # modules of tensorflow-serving-api 2.20.0 do not import on protobuf >= 4 (upb)
    channel, official = RecordingChannel(), RecordingChannel()
    protos.PredictionServiceStub(channel), protos.ModelServiceStub(channel)
    prediction_service_pb2_grpc.PredictionServiceStub(official)
    model_service_pb2_grpc.ModelServiceStub(official)
    assert len(channel.methods) == 3
    for path, deserializer in channel.methods.items():
        assert path in official.methods
        theirs = official.methods[path].__self__.DESCRIPTOR.full_name
        assert deserializer.__self__.DESCRIPTOR.full_name == theirs


def round_trip_request(ours) -> None:
    """ours -> their class -> bytes -> ours: nothing lost, the same bytes each way."""
    data = ours.SerializeToString(deterministic=True)
    theirs = official_class(ours).FromString(data)
    assert theirs.SerializeToString(deterministic=True) == data
    assert type(ours).FromString(theirs.SerializeToString()) == ours


def test_every_request_the_client_builds_is_tf_servings():
    requests = [
        ClassifierCodec(version=3).encode([b"\x89PNG one", b"two"]),
        QACodec(label="stable").encode([("Mary went home.\nJohn left.", "Where is Mary?")]),
        TranslatorCodec(greedy=True).encode(["Guten Morgen", ""]),
        codecs.predict_request("m", {"x": np.arange(6, dtype=np.float32).reshape(2, 3),
                                       "n": [1, 2], "s": "one", "b": np.array([True, False]),
                                       "t": tf.make_tensor_proto([1.5])},
                                 signature="sig", output_filter=["y", "total"]),
        codecs.predict_request("m", {"pixels": tensors.make_tensor_proto(
            [[[[1]]]], dtype=CLASSIFIER.signature("predict_pixels").input("pixels").dtype)}),
        codecs.metadata_request("classifier", version=2),
        codecs.status_request("qa"), codecs.status_request("qa", version=7),
    ]
    for request in requests:
        round_trip_request(request)
    assert requests[3].inputs["t"].float_val == [1.5]  # an official TensorProto taken as is


def test_every_response_the_client_reads_is_tf_servings():
    predict = predict_pb2.PredictResponse()
    predict.model_spec.name, predict.model_spec.version.value = "classifier", 4
    predict.outputs["classes"].CopyFrom(tf.make_tensor_proto([[b"Shirt", b"Bag"]]))
    predict.outputs["scores"].CopyFrom(tf.make_tensor_proto(np.float32([[0.9, 0.1]])))
    predict.outputs["class_ids"].CopyFrom(tf.make_tensor_proto(np.int64([[6, 8]])))
    signature = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/predict")
    signature.inputs["image_bytes"].name = "serving_default_image_bytes:0"
    signature.inputs["image_bytes"].dtype = tf.string.as_datatype_enum
    signature.inputs["image_bytes"].tensor_shape.dim.add(size=-1)
    signature.outputs["scores"].coo_sparse.values_tensor_name = "v"
    signature.defaults["k"].CopyFrom(tf.make_tensor_proto(5))
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    signature_map.signature_def["serving_default"].CopyFrom(signature)
    metadata = get_model_metadata_pb2.GetModelMetadataResponse()
    metadata.model_spec.name = "classifier"
    metadata.metadata["signature_def"].Pack(signature_map)
    status = get_model_status_pb2.GetModelStatusResponse()
    for version, state, code, text in ((1, 30, 0, ""), (2, 50, 5, "gone"), (3, 20, 9, "x")):
        entry = status.model_version_status.add(version=version, state=state)
        entry.status.error_code, entry.status.error_message = code, text
    ours_of = {"PredictResponse": protos.PredictResponse, "GetModelStatusResponse":
               protos.GetModelStatusResponse, "GetModelMetadataResponse":
               protos.GetModelMetadataResponse}
    for theirs in (predict, metadata, status):
        data = theirs.SerializeToString(deterministic=True)
        ours = ours_of[theirs.DESCRIPTOR.name].FromString(data)
        assert ours.SerializeToString(deterministic=True) == data
        assert type(theirs).FromString(ours.SerializeToString()) == theirs

    [result] = ClassifierCodec(top_k=2).decode(
        protos.PredictResponse.FromString(predict.SerializeToString()))
    assert [(x.name, x.class_id) for x in result.labels] == [("Shirt", 6), ("Bag", 8)]
    signatures = codecs.signature_defs(
        protos.GetModelMetadataResponse.FromString(metadata.SerializeToString()))
    assert signatures["serving_default"].SerializeToString() == signature.SerializeToString()
    statuses = codecs.version_statuses(
        protos.GetModelStatusResponse.FromString(status.SerializeToString()))
    assert [(s.version, s.state, s.error_code, s.error_message) for s in statuses] == [
        (1, "AVAILABLE", "OK", ""), (2, "END", "NOT_FOUND", "gone"),
        (3, "LOADING", "FAILED_PRECONDITION", "x")]


def test_fields_this_client_does_not_declare_pass_through():
    theirs = predict_pb2.PredictRequest(client_id=b"me")
    theirs.request_options.deterministic_mode = 1
    theirs.inputs["v"].variant_val.add(type_name="t", metadata=b"m")
    theirs.inputs["v"].resource_handle_val.add(device="/cpu:0")
    data = theirs.SerializeToString(deterministic=True)
    assert protos.PredictRequest.FromString(data).SerializeToString(deterministic=True) == data


DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8,
          np.uint16, np.uint32, np.uint64, np.bool_, np.complex64, np.complex128]
SHAPES = [(), (1,), (0,), (3,), (2, 3), (2, 0, 4), (1, 1, 1), (4, 1, 2)]


def sample(dtype, shape) -> np.ndarray:
    count = int(np.prod(shape))
    values = np.arange(1, count + 1) * (-1) ** np.arange(count)
    if np.dtype(dtype).kind in "uib":
        values = np.abs(values) % 2 if dtype == np.bool_ else np.abs(values) % 100
        return values.astype(dtype).reshape(shape)
    values = values / 3
    if np.dtype(dtype).kind == "c":
        values = values + 1j * values[::-1]
    array = values.astype(dtype).reshape(shape)
    if array.size > 2 and np.dtype(dtype).kind == "f":
        array.flat[1:3] = [np.inf, np.nan]
    return array


def agree(values, dtype=None, tf_dtype=None) -> np.ndarray:
    """Ours writes tf.make_tensor_proto's bytes, and each reads the other's as
    tf.make_ndarray does."""
    theirs = tf.make_tensor_proto(values, dtype=tf_dtype)
    ours = tensors.make_tensor_proto(values, dtype=dtype)
    assert ours.SerializeToString() == theirs.SerializeToString(), (values, ours, theirs)
    official = tf.make_ndarray(theirs)
    decoded = tensors.make_ndarray(ours)
    assert decoded.dtype == official.dtype and decoded.shape == official.shape
    if decoded.dtype == object:
        np.testing.assert_array_equal(decoded, official)
    else:  # bit for bit, NaNs included (ml_dtypes' NaN comparison varies by release)
        assert decoded.tobytes() == official.tobytes()
    return decoded


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_codec_agrees_with_tensorflow_on_arrays(dtype):
    for shape in SHAPES:
        agree(sample(dtype, shape))
        agree(np.asfortranarray(sample(dtype, shape)).T)  # not C-contiguous


@pytest.mark.parametrize("values", [
    3.5, 7, 2 ** 40, True, "één", b"bytes\x00", np.float32(2.5), np.int64(9), [],
    [1.0, 2.5], [[1, 2], [3, 4]], [1, 2 ** 40], [True, False], [[0.5], [1e30]],
    [b"a\x00", b"", b"\xff"], ["x", "één"], [[b"a", b"b"]], np.array([b"a", b"bc"]),
    np.array(["a", "b\u00e9"]), np.array([b"x", "y"], dtype=object), np.zeros((2, 0)),
], ids=repr)
def test_codec_agrees_with_tensorflow_on_python_values(values):
    agree(values)


@pytest.mark.parametrize(("values", "name"), [
    ([[1, 2]], "DT_FLOAT"), (np.float64([1.7, 2.2]), "DT_INT32"), (np.arange(4), "DT_HALF"),
    ([b"a", b"b"], "DT_STRING"), (["a"], "DT_STRING"), (5, "DT_INT64"), ([True], "DT_BOOL"),
    (np.float64([1, 2]), "DT_DOUBLE"), ([3], "DT_UINT16"), ([[1.5, 2]], "DT_COMPLEX64"),
], ids=repr)
def test_codec_agrees_with_tensorflow_on_a_given_dtype(values, name):
    agree(values, dtype=name, tf_dtype=tf.dtypes.as_dtype(protos.DATA_TYPES[name]))


def typed(dtype, shape, **fields) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=dtype.as_datatype_enum, **fields)
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    return proto


@pytest.mark.parametrize("proto", [
    typed(tf.float32, [2, 3], float_val=[7.5]), typed(tf.float32, [3], float_val=[1, 2]),
    typed(tf.float64, [2], double_val=[1.25, -2]), typed(tf.int32, [2, 2], int_val=[4]),
    typed(tf.uint8, [3], int_val=[255, 0, 7]), typed(tf.int16, [1], int_val=[-3]),
    typed(tf.int8, [2], int_val=[-1]), typed(tf.uint16, [2], int_val=[65535, 1]),
    typed(tf.int64, [2, 1], int64_val=[2 ** 40]),
    typed(tf.uint32, [2], uint32_val=[4_000_000_000, 1]),
    typed(tf.uint64, [1], uint64_val=[2 ** 63]), typed(tf.bool, [3], bool_val=[True]),
    typed(tf.float16, [3], half_val=[15360, 16384]), typed(tf.complex64, [2], scomplex_val=[1, 2]),
    typed(tf.complex128, [1, 2], dcomplex_val=[1, 2, 3, 4]),
    typed(tf.string, [2, 2], string_val=[b"a", b"b"]), typed(tf.string, [1], string_val=[b"z"]),
    typed(tf.float32, [2, 2]), typed(tf.int64, [0, 3]), typed(tf.float32, []),
    typed(tf.float32, [2], tensor_content=np.float32([1, 2]).tobytes()),
], ids=lambda p: f"{tf.dtypes.as_dtype(p.dtype).name}{[d.size for d in p.tensor_shape.dim]}")
def test_decoding_what_a_server_may_send_agrees_with_tensorflow(proto):
    official = tf.make_ndarray(proto)
    decoded = tensors.make_ndarray(protos.TensorProto.FromString(proto.SerializeToString()))
    assert decoded.dtype == official.dtype and decoded.shape == official.shape
    np.testing.assert_array_equal(decoded, official)


def test_decoding_refuses_what_tensorflow_could_not_decode():
    for proto, match in [
        (typed(tf.float32, [2], float_val=[1, 2, 3]), "carries 3 values"),
        (typed(tf.float32, [3], tensor_content=b"\0" * 8), "tensor_content holds 8 bytes"),
        (tensor_pb2.TensorProto(dtype=1, tensor_shape={"unknown_rank": True}), "fully defined"),
        (typed(tf.float32, [-1]), "fully defined"),
        (typed(tf.float32, [1 << 20, 1 << 20]), "over 2 GB"),
        (typed(tf.variant, [1]), "not supported"),
    ]:
        with pytest.raises(ValueError, match=match):
            tensors.make_ndarray(protos.TensorProto.FromString(proto.SerializeToString()))
    with pytest.raises(ValueError, match="dense"):
        tensors.make_tensor_proto([[1, 2], [3]])
    with pytest.raises(ValueError, match="None"):
        tensors.make_tensor_proto(None)


def test_codec_agrees_with_tensorflow_on_bfloat16():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    for shape in [(), (1,), (3,), (2, 2)]:
        agree(sample(np.float32, shape).astype(ml_dtypes.bfloat16))
