"""TF Serving config messages that `tensorflow-serving-api` does not ship.

`BatchingParameters` (session_bundle_config.proto), `MonitoringConfig`
(monitoring_config.proto) and `SSLConfig` (ssl_config.proto) are declared here
with TF Serving's own package, field names and numbers, by the project's one
declaration format (`contract.protos.build_pool`), so their files parse with
protobuf's text format exactly as TF Serving's do.
"""

from __future__ import annotations

from pathlib import Path

from google.protobuf import text_format

from contract.protos import build_pool, message_class

_PACKAGES = {"tensorflow.serving": {"messages": {
    "BatchingParameters": [
        ("max_batch_size", 1, "google.protobuf.Int64Value"),
        ("batch_timeout_micros", 2, "google.protobuf.Int64Value"),
        ("max_enqueued_batches", 3, "google.protobuf.Int64Value"),
        ("num_batch_threads", 4, "google.protobuf.Int64Value"),
        ("thread_pool_name", 5, "google.protobuf.StringValue"),
        ("allowed_batch_sizes", 6, "repeated int64"),
        ("pad_variable_length_inputs", 7, "bool"),
    ],
    "PrometheusConfig": [("enable", 1, "bool"), ("path", 2, "string")],
    "MonitoringConfig": [("prometheus_config", 1, "tensorflow.serving.PrometheusConfig")],
    "SSLConfig": [("server_key", 1, "string"), ("server_cert", 2, "string"),
                  ("custom_ca", 3, "string"), ("client_verify", 4, "bool")],
}}}
_POOL = build_pool(_PACKAGES, "tfstack/serving")

BatchingParameters = message_class(_POOL, "tensorflow.serving.BatchingParameters")
MonitoringConfig = message_class(_POOL, "tensorflow.serving.MonitoringConfig")
SSLConfig = message_class(_POOL, "tensorflow.serving.SSLConfig")


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
