"""TF Serving config messages that `tensorflow-serving-api` does not ship.

`BatchingParameters` (session_bundle_config.proto), `MonitoringConfig`
(monitoring_config.proto) and `SSLConfig` (ssl_config.proto) are declared here
with TF Serving's own package, field names and numbers, in a private descriptor
pool, so their files parse with protobuf's text format exactly as TF Serving's do.
"""

from __future__ import annotations

from pathlib import Path

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,
)

_F = descriptor_pb2.FieldDescriptorProto
_MESSAGES = {
    "BatchingParameters": [
        ("max_batch_size", 1, ".google.protobuf.Int64Value"),
        ("batch_timeout_micros", 2, ".google.protobuf.Int64Value"),
        ("max_enqueued_batches", 3, ".google.protobuf.Int64Value"),
        ("num_batch_threads", 4, ".google.protobuf.Int64Value"),
        ("thread_pool_name", 5, ".google.protobuf.StringValue"),
        ("allowed_batch_sizes", 6, "repeated int64"),
        ("pad_variable_length_inputs", 7, "bool"),
    ],
    "PrometheusConfig": [("enable", 1, "bool"), ("path", 2, "string")],
    "MonitoringConfig": [("prometheus_config", 1, ".tensorflow.serving.PrometheusConfig")],
    "SSLConfig": [("server_key", 1, "string"), ("server_cert", 2, "string"),
                  ("custom_ca", 3, "string"), ("client_verify", 4, "bool")],
}
_SCALARS = {"int64": _F.TYPE_INT64, "bool": _F.TYPE_BOOL, "string": _F.TYPE_STRING}


def _build_pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    file = descriptor_pb2.FileDescriptorProto(
        name="tfstack/serving/config_protos.proto", package="tensorflow.serving",
        syntax="proto3", dependency=["google/protobuf/wrappers.proto"])
    for name, fields in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for field_name, number, kind in fields:
            repeated = kind.startswith("repeated ")
            kind = kind.removeprefix("repeated ")
            field = message.field.add(
                name=field_name, number=number,
                label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
            if kind.startswith("."):
                field.type, field.type_name = _F.TYPE_MESSAGE, kind
            else:
                field.type = _SCALARS[kind]
    pool.Add(file)
    return pool


_POOL = _build_pool()


def _message_class(name: str):
    descriptor = _POOL.FindMessageTypeByName(f"tensorflow.serving.{name}")
    return message_factory.GetMessageClass(descriptor)


BatchingParameters = _message_class("BatchingParameters")
MonitoringConfig = _message_class("MonitoringConfig")
SSLConfig = _message_class("SSLConfig")


def read_text_proto(path: str | Path, message_class):
    """Parses a text-format config file; ValueError says which file and where, in the
    words TF Serving's server.cc and protobuf's parser use."""
    try:
        return text_format.Parse(Path(path).read_text(), message_class())
    except text_format.ParseError as e:
        name = message_class.DESCRIPTOR.full_name
        raise ValueError(f"Invalid protobuf file: '{path}': Error parsing text-format "
                         f"{name}: {e}") from e
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e}") from e
