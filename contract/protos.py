"""TF Serving messages declared without TensorFlow: the one way this project declares
a message that no package it may import ships, and the messages the clients speak.

`build_pool` turns declarations (per package: enums, and messages whose fields are
`(name, number, type[, oneof])`, a type being a scalar, `repeated T`, `map<string, T>`
or a full message or enum name) into a private descriptor pool, with the packages,
names and field numbers of TF Serving's own .proto files, so the bytes on the wire and
the text format are TF Serving's. `serving/config_protos.py` (config messages the
tensorflow-serving-api wheel lacks) and `.ci/session_check.py` (warm-up records in
a bare TensorFlow venv) declare theirs with it too.

The clients' messages below are what they use of `tensorflow_serving/apis/*.proto`,
`tensorflow/core/framework/{tensor,tensor_shape,types}.proto`, `meta_graph.proto` and
`error_codes.proto`; neither `tensorflow` nor `tensorflow-serving-api` is imported. A
field a server sends that is not declared (a newer field, `variant_val`) is kept as an
unknown field, not lost. tests/clients/test_wire_compat.py checks every declaration
against the official classes and round-trips each message through them.
"""

from __future__ import annotations

import re

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

_F = descriptor_pb2.FieldDescriptorProto

# Each package's enums and messages, nested ones as `Outer.Inner`.
_PACKAGES = {
    "tensorflow": {
        "enums": {
            "DataType": [
                "DT_INVALID", "DT_FLOAT", "DT_DOUBLE", "DT_INT32", "DT_UINT8", "DT_INT16",
                "DT_INT8", "DT_STRING", "DT_COMPLEX64", "DT_INT64", "DT_BOOL", "DT_QINT8",
                "DT_QUINT8", "DT_QINT32", "DT_BFLOAT16", "DT_QINT16", "DT_QUINT16",
                "DT_UINT16", "DT_COMPLEX128", "DT_HALF", "DT_RESOURCE", "DT_VARIANT",
                "DT_UINT32", "DT_UINT64"],  # numbered from 0, as in types.proto
        },
        "messages": {
            "TensorShapeProto": [("dim", 2, "repeated tensorflow.TensorShapeProto.Dim"),
                                 ("unknown_rank", 3, "bool")],
            "TensorShapeProto.Dim": [("size", 1, "int64"), ("name", 2, "string")],
            "TensorProto": [
                ("dtype", 1, "tensorflow.DataType"),
                ("tensor_shape", 2, "tensorflow.TensorShapeProto"),
                ("version_number", 3, "int32"), ("tensor_content", 4, "bytes"),
                ("half_val", 13, "repeated int32"), ("float_val", 5, "repeated float"),
                ("double_val", 6, "repeated double"), ("int_val", 7, "repeated int32"),
                ("string_val", 8, "repeated bytes"), ("scomplex_val", 9, "repeated float"),
                ("int64_val", 10, "repeated int64"), ("bool_val", 11, "repeated bool"),
                ("dcomplex_val", 12, "repeated double"),
                ("uint32_val", 16, "repeated uint32"), ("uint64_val", 17, "repeated uint64"),
                ("float8_val", 18, "bytes")],
            "TensorInfo": [("name", 1, "string", "encoding"),
                           ("coo_sparse", 4, "tensorflow.TensorInfo.CooSparse", "encoding"),
                           ("dtype", 2, "tensorflow.DataType"),
                           ("tensor_shape", 3, "tensorflow.TensorShapeProto")],
            "TensorInfo.CooSparse": [("values_tensor_name", 1, "string"),
                                     ("indices_tensor_name", 2, "string"),
                                     ("dense_shape_tensor_name", 3, "string")],
            "SignatureDef": [("inputs", 1, "map<string, tensorflow.TensorInfo>"),
                             ("outputs", 2, "map<string, tensorflow.TensorInfo>"),
                             ("method_name", 3, "string"),
                             ("defaults", 4, "map<string, tensorflow.TensorProto>")],
        },
    },
    "tensorflow.error": {
        "enums": {
            "Code": [("OK", 0), ("CANCELLED", 1), ("UNKNOWN", 2), ("INVALID_ARGUMENT", 3),
                     ("DEADLINE_EXCEEDED", 4), ("NOT_FOUND", 5), ("ALREADY_EXISTS", 6),
                     ("PERMISSION_DENIED", 7), ("UNAUTHENTICATED", 16),
                     ("RESOURCE_EXHAUSTED", 8), ("FAILED_PRECONDITION", 9), ("ABORTED", 10),
                     ("OUT_OF_RANGE", 11), ("UNIMPLEMENTED", 12), ("INTERNAL", 13),
                     ("UNAVAILABLE", 14), ("DATA_LOSS", 15)],
        },
        "messages": {},
    },
    "tensorflow.serving": {
        "enums": {
            "ModelVersionStatus.State": [("UNKNOWN", 0), ("START", 10), ("LOADING", 20),
                                         ("AVAILABLE", 30), ("UNLOADING", 40), ("END", 50)],
        },
        "messages": {
            "ModelSpec": [("name", 1, "string"),
                          ("version", 2, "google.protobuf.Int64Value", "version_choice"),
                          ("version_label", 4, "string", "version_choice"),
                          ("signature_name", 3, "string")],
            "PredictRequest": [("model_spec", 1, "tensorflow.serving.ModelSpec"),
                               ("inputs", 2, "map<string, tensorflow.TensorProto>"),
                               ("output_filter", 3, "repeated string")],
            "PredictResponse": [("model_spec", 2, "tensorflow.serving.ModelSpec"),
                                ("outputs", 1, "map<string, tensorflow.TensorProto>")],
            "GetModelMetadataRequest": [("model_spec", 1, "tensorflow.serving.ModelSpec"),
                                        ("metadata_field", 2, "repeated string")],
            "GetModelMetadataResponse": [("model_spec", 1, "tensorflow.serving.ModelSpec"),
                                         ("metadata", 2, "map<string, google.protobuf.Any>")],
            "SignatureDefMap": [("signature_def", 1, "map<string, tensorflow.SignatureDef>")],
            "GetModelStatusRequest": [("model_spec", 1, "tensorflow.serving.ModelSpec")],
            "StatusProto": [("error_code", 1, "tensorflow.error.Code"),
                            ("error_message", 2, "string")],
            "ModelVersionStatus": [("version", 1, "int64"),
                                   ("state", 2, "tensorflow.serving.ModelVersionStatus.State"),
                                   ("status", 3, "tensorflow.serving.StatusProto")],
            "GetModelStatusResponse": [("model_version_status", 1,
                                        "repeated tensorflow.serving.ModelVersionStatus")],
        },
    },
}
# JSON names TF Serving's files set explicitly (protoc's default is lowerCamelCase).
_JSON_NAMES = {"StatusProto.error_code": "error_code", "StatusProto.error_message":
               "error_message", "GetModelStatusResponse.model_version_status":
               "model_version_status"}
_SCALARS = {name: getattr(_F, f"TYPE_{name.upper()}") for name in (
    "double", "float", "int64", "uint64", "int32", "bool", "string", "bytes", "uint32")}
_WELL_KNOWN = {"google.protobuf.Int64Value": "google/protobuf/wrappers.proto",
               "google.protobuf.StringValue": "google/protobuf/wrappers.proto",
               "google.protobuf.Any": "google/protobuf/any.proto"}


def _file_name(prefix: str, package: str) -> str:
    return f"{prefix}/{package.replace('.', '_')}.proto"


def _message_at(file, path: list[str]):
    """The message `Outer.Inner` of `file` (`path` outer first), added on first use."""
    message, children = None, file.message_type
    for name in path:
        message = next((m for m in children if m.name == name), None) or children.add(name=name)
        children = message.nested_type
    return message


def _set_type(field, kind: str, enums: set[str]) -> str | None:
    """Sets the field's type; returns the message or enum it refers to, if any."""
    if kind in _SCALARS:
        field.type = _SCALARS[kind]
        return None
    field.type = _F.TYPE_ENUM if kind in enums else _F.TYPE_MESSAGE
    field.type_name = f".{kind}"
    return kind


def _package_of(packages: dict, type_name: str) -> str:
    return max((p for p in packages if type_name.startswith(f"{p}.")), key=len)


def _add_field(message, full_name: str, spec: tuple, enums: set[str],
               json_names: dict[str, str]) -> str | None:
    name, number, kind, *oneof = spec
    field = message.field.add(name=name, number=number, label=_F.LABEL_OPTIONAL)
    json_name = json_names.get(f"{full_name.rsplit('.', 1)[-1]}.{name}")
    if json_name:
        field.json_name = json_name
    if oneof:
        names = [o.name for o in message.oneof_decl]
        if oneof[0] not in names:
            message.oneof_decl.add(name=oneof[0])
            names.append(oneof[0])
        field.oneof_index = names.index(oneof[0])
    map_of = re.fullmatch(r"map<string, (\S+)>", kind)
    if map_of:  # a map is a repeated nested `NameEntry` message, as protoc writes it
        entry = message.nested_type.add(
            name="".join(part.title() for part in name.split("_")) + "Entry")
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, label=_F.LABEL_OPTIONAL, type=_F.TYPE_STRING)
        value = entry.field.add(name="value", number=2, label=_F.LABEL_OPTIONAL)
        field.label, field.type = _F.LABEL_REPEATED, _F.TYPE_MESSAGE
        field.type_name = f".{full_name}.{entry.name}"
        return _set_type(value, map_of.group(1), enums)
    if kind.startswith("repeated "):
        field.label, kind = _F.LABEL_REPEATED, kind.removeprefix("repeated ")
    return _set_type(field, kind, enums)


def build_pool(packages: dict, prefix: str,
               json_names: dict[str, str] | None = None) -> descriptor_pool.DescriptorPool:
    """A descriptor pool of `packages` (each after those it refers to), in files named
    under `prefix`; `json_names` sets a field's JSON name (`Message.field`) where the
    .proto file sets one explicitly."""
    pool = descriptor_pool.DescriptorPool()
    for module in (wrappers_pb2, any_pb2):
        pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
    enums = {f"{package}.{name}" for package, body in packages.items()
             for name in body.get("enums", {})}
    for package, body in packages.items():
        file = descriptor_pb2.FileDescriptorProto(name=_file_name(prefix, package),
                                                  package=package, syntax="proto3")
        for name, values in body.get("enums", {}).items():
            *outer, leaf = name.split(".")
            enum = (_message_at(file, outer).enum_type if outer else file.enum_type).add(
                name=leaf)
            for number, value in enumerate(values):
                value_name, value_number = value if isinstance(value, tuple) else (value, number)
                enum.value.add(name=value_name, number=value_number)
        used = set()
        for name, fields in body["messages"].items():
            message = _message_at(file, name.split("."))
            used |= {_add_field(message, f"{package}.{name}", spec, enums, json_names or {})
                     for spec in fields}
        used.discard(None)
        files = {_WELL_KNOWN.get(t) or _file_name(prefix, _package_of(packages, t))
                 for t in used}
        file.dependency.extend(sorted(files - {file.name}))
        pool.Add(file)
    return pool


def message_class(pool: descriptor_pool.DescriptorPool, full_name: str):
    """The message class of `full_name` in `pool`."""
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))


POOL = build_pool(_PACKAGES, "tfstack/contract", _JSON_NAMES)


def _message(full_name: str):
    return message_class(POOL, full_name)


TensorShapeProto = _message("tensorflow.TensorShapeProto")
TensorProto = _message("tensorflow.TensorProto")
TensorInfo = _message("tensorflow.TensorInfo")
SignatureDef = _message("tensorflow.SignatureDef")
ModelSpec = _message("tensorflow.serving.ModelSpec")
PredictRequest = _message("tensorflow.serving.PredictRequest")
PredictResponse = _message("tensorflow.serving.PredictResponse")
GetModelMetadataRequest = _message("tensorflow.serving.GetModelMetadataRequest")
GetModelMetadataResponse = _message("tensorflow.serving.GetModelMetadataResponse")
SignatureDefMap = _message("tensorflow.serving.SignatureDefMap")
GetModelStatusRequest = _message("tensorflow.serving.GetModelStatusRequest")
GetModelStatusResponse = _message("tensorflow.serving.GetModelStatusResponse")
ModelVersionStatus = _message("tensorflow.serving.ModelVersionStatus")
StatusProto = _message("tensorflow.serving.StatusProto")
DATA_TYPES = {v.name: v.number for v in POOL.FindEnumTypeByName("tensorflow.DataType").values}


def _serialize(message) -> bytes:
    # any message with these bytes: ours, or the official class a caller built
    return message.SerializeToString()


def _method(channel, service: str, name: str, response_class):
    return channel.unary_unary(f"/tensorflow.serving.{service}/{name}",
                               request_serializer=_serialize,
                               response_deserializer=response_class.FromString)


class PredictionServiceStub:
    """`tensorflow.serving.PredictionService`'s Predict and GetModelMetadata, on a
    blocking or a grpc.aio channel."""

    def __init__(self, channel):
        self.Predict = _method(channel, "PredictionService", "Predict", PredictResponse)
        self.GetModelMetadata = _method(channel, "PredictionService", "GetModelMetadata",
                                        GetModelMetadataResponse)


class ModelServiceStub:
    """`tensorflow.serving.ModelService`'s GetModelStatus."""

    def __init__(self, channel):
        self.GetModelStatus = _method(channel, "ModelService", "GetModelStatus",
                                      GetModelStatusResponse)
