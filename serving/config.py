"""Server settings, and TF Serving's model config file (`ModelServerConfig` text format)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tensorflow_serving.config import model_server_config_pb2

from contract.defaults import MAX_MESSAGE_BYTES
from serving.config_protos import read_text_proto
from serving.config_rules import TENSORFLOW_PLATFORM, ConfigError, validate_model_list
from serving.connections import ConnectionLimits

if TYPE_CHECKING:  # importing TensorFlow's protos imports TensorFlow: not for flags alone
    from tensorflow.core.protobuf import config_pb2

ModelServerConfig = model_server_config_pb2.ModelServerConfig
ModelConfig = model_server_config_pb2.ModelConfig
SERVE_TAG = "serve"  # tensorflow::kSavedModelTagServe
_INT32 = re.compile(r"^\s*[+-]?\d+\s*$")  # what absl::SimpleAtoi reads as an integer


def schedulable_cpus() -> int:
    """port::NumSchedulableCPUs: the CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


@dataclass(frozen=True)
class ServerConfig:
    """What `tfstack serve` runs; field names follow TF Serving's flags."""

    port: int = 8500
    host: str = "127.0.0.1"
    rest_api_port: int = 0
    model_name: str = "default"
    model_base_path: str | None = None
    model_config_file: str | None = None
    model_config_list_root_dir: str | None = None  # ServerCore's option; absolute
    file_system_poll_wait_seconds: float = 1.0
    model_config_file_poll_wait_seconds: float = 0.0
    max_num_load_retries: int = 5
    max_load_wait_seconds: float = 60.0  # a poll's wait on one load before going on
    allow_version_labels_for_unavailable_models: bool = False
    grpc_max_threads: int = 8
    monitoring_config_file: str | None = None
    enable_batching: bool = False
    batching_parameters_file: str | None = None
    enable_model_warmup: bool = True
    rest_api_timeout_in_ms: int = 30_000
    ssl_config_file: str | None = None
    auth_token_file: str | None = None
    access_log: bool = False
    access_log_format: str = "text"  # text (for people) or json (one object a line)
    request_log_max_file_bytes: int = 64 * 1024 * 1024  # logging_config: a file, rotated
    request_log_max_files: int = 16  # kept per filename_prefix, older ones deleted
    max_message_bytes: int = MAX_MESSAGE_BYTES
    max_request_tensor_bytes: int = MAX_MESSAGE_BYTES  # decoded tensors of one request
    max_in_flight_per_signature: int = 256  # admitted requests of one model signature
    max_request_fill_bytes: int = 64 * 1024  # what filling declared shapes may add
    max_request_rows: int = 1000  # rows (batch entries) of one request; 0: no limit
    rest_max_body_bytes_in_flight: int = 128 * 1024 * 1024  # REST bodies handled at once
    rest_max_parsed_body_bytes: int = 256 * 1024 * 1024  # one body's parsed JSON
    max_threads_per_connection: int = 0  # of --grpc_max_threads; 0: half of them
    grpc_max_concurrent_rpcs: int = 1024  # gRPC calls open at once; more: RESOURCE_EXHAUSTED
    max_connections: int = 0  # per listener; 0: a share of the file descriptors
    receive_timeout_seconds: float = 60.0  # for a gRPC request message to arrive
    header_timeout_seconds: float = 10.0  # for a REST request's headers to arrive
    idle_timeout_seconds: float = 300.0  # a connection with no calls is closed after
    drain_seconds: float = 2.0  # NOT_SERVING before the listeners stop, for load balancers
    grace_period_seconds: float = 10.0
    # TF Serving's other flags (model_servers/main.cc), with its defaults (server.h).
    grpc_socket_path: str | None = None  # also serve gRPC on this Unix socket
    grpc_channel_arguments: str = ""  # "k1=v1,k2=v2", applied to the gRPC server
    use_alts_credentials: bool = False
    enable_grpc_healthcheck_service: bool = False  # TF Serving's own health names too
    rest_api_enable_cors_support: bool = False
    # For the loader: what TF Serving applies when it loads a SavedModel.
    saved_model_tags: str = SERVE_TAG  # comma-separated MetaGraphDef tags
    enable_signature_method_name_check: bool = False
    num_request_iterations_for_warmup: int = 0  # used only if > 0
    load_retry_interval_micros: int = 60_000_000  # negative: no wait
    tensorflow_session_config_file: str | None = None  # ConfigProto text; see session_config
    tensorflow_session_parallelism: int = 0  # 0: auto
    tensorflow_intra_op_parallelism: int = 0
    tensorflow_inter_op_parallelism: int = 0
    per_process_gpu_memory_fraction: float = 0.0
    mixed_precision: str = ""  # "bfloat16" or empty
    # Accepted, with no effect here (serving/cli.py NO_EFFECT says why).
    rest_api_num_threads: int = field(default_factory=lambda: 4 * schedulable_cpus())
    enable_per_model_batching_parameters: bool = False
    num_load_threads: int = 0
    num_unload_threads: int = 0
    flush_filesystem_caches: bool = True
    platform_config_file: str | None = None
    remove_unused_fields_from_bundle_metagraph: bool = True
    prefer_tflite_model: bool = False
    num_tflite_pools: int = field(default_factory=schedulable_cpus)
    num_tflite_interpreters_per_pool: int = 1
    xla_cpu_compilation_enabled: bool = False
    xla_gpu_compilation_enabled: bool = False
    enable_profiler: bool = True
    thread_pool_factory_config_file: str | None = None
    skip_initialize_tpu: bool = False
    enable_serialization_as_tensor_content: bool = False

    def connection_limits(self) -> ConnectionLimits:
        return ConnectionLimits(self.max_connections, self.receive_timeout_seconds,
                                self.header_timeout_seconds, self.idle_timeout_seconds)

    def saved_model_tag_set(self) -> frozenset[str]:
        """The MetaGraphDef tags to load: `--saved_model_tags`, or `serve` if none
        (saved_model_bundle_factory.cc)."""
        return frozenset(t for t in self.saved_model_tags.split(",") if t) or {SERVE_TAG}

    def channel_arguments(self) -> list[tuple[str, int | str]]:
        """`--grpc_channel_arguments` as server.cc passes them to gRPC: split on commas,
        then on `=`; a value that reads as a 32-bit integer is an int, others strings."""
        arguments = []
        for item in self.grpc_channel_arguments.split(",") if self.grpc_channel_arguments else ():
            key, equals, value = item.partition("=")
            if not equals or not key.strip():
                raise ConfigError(f"--grpc_channel_arguments: expected key=value, got {item!r} "
                                  f"in {self.grpc_channel_arguments!r}")
            value = value.split("=")[0]  # server.cc keeps what lies between the first two
            number = int(value) if _INT32.match(value) else None
            arguments.append((key, number if number is not None and -2**31 <= number < 2**31
                              else value))
        return arguments

    def session_config(self) -> config_pb2.ConfigProto:
        """The ConfigProto TF Serving gives each model's Session (model_servers/server.cc,
        saved_model_bundle_factory.cc): the session config file, then the GPU fraction,
        thread counts (these always overwrite the file's) and mixed precision."""
        from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2

        config = config_pb2.ConfigProto()
        if self.tensorflow_session_config_file:
            try:
                config = read_text_proto(self.tensorflow_session_config_file,
                                         config_pb2.ConfigProto)
            except ValueError as e:
                raise ConfigError(str(e)) from e
        config.gpu_options.per_process_gpu_memory_fraction = self.per_process_gpu_memory_fraction
        intra, inter = self.tensorflow_intra_op_parallelism, self.tensorflow_inter_op_parallelism
        if intra <= 0 and inter <= 0:
            intra = inter = self.tensorflow_session_parallelism
        config.intra_op_parallelism_threads, config.inter_op_parallelism_threads = intra, inter
        if self.mixed_precision == "bfloat16":
            config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = (
                rewriter_config_pb2.RewriterConfig.ON)
        return config


def read_model_config_file(path: str | Path) -> ModelServerConfig:
    """Parses a TF Serving model config file; raises ValueError saying where it is wrong."""
    config = read_text_proto(path, ModelServerConfig)
    if config.WhichOneof("config") == "custom_model_config":  # LoadCustomModelConfig
        raise ConfigError("ModelServer does not yet support custom model config.")
    if config.WhichOneof("config") != "model_config_list":
        raise ConfigError(f"{path} has no model_config_list; it is the only config supported")
    return config


def model_configs(config: ServerConfig) -> list[ModelConfig]:
    """The models to serve, checked by TF Serving's rules: from `--model_config_file`,
    else the single `--model_name`/`--model_base_path` pair, as Server::BuildAndStart
    chooses (model_servers/server.cc)."""
    check_server_flags(config)
    if config.model_config_file:
        models = list(read_model_config_file(config.model_config_file).model_config_list.config)
    else:
        models = [ModelConfig(name=config.model_name, base_path=config.model_base_path,
                              model_platform=TENSORFLOW_PLATFORM)]
    return validate_model_list(models, config.model_config_list_root_dir)


def check_server_flags(config: ServerConfig) -> None:
    """Flag combinations Server::BuildAndStart refuses (model_servers/server.cc)."""
    if not config.model_base_path and not config.model_config_file:
        raise ConfigError("Both server_options.model_base_path and "
                          "server_options.model_config_file are empty!")
    if config.batching_parameters_file and not config.enable_batching:
        raise ConfigError("server_options.batching_parameters_file is set without setting "
                          "server_options.enable_batching to true.")
    config.channel_arguments()  # a malformed one is refused before any model loads
    if config.use_alts_credentials and config.ssl_config_file:
        raise ConfigError("Either use_alts_credentials must be false or "
                          "ssl_config_file must be empty.")
    if min(config.tensorflow_intra_op_parallelism, config.tensorflow_inter_op_parallelism,
           config.tensorflow_session_parallelism) > 0:
        raise ConfigError("Either configure server_options.tensorflow_session_parallelism "
                          "or (server_options.tensorflow_intra_op_parallelism, "
                          "server_options.tensorflow_inter_op_parallelism) separately. "
                          "You cannot configure all.")


def select_versions(available: list[int], model: ModelConfig) -> list[int]:
    """The versions a model's `model_version_policy` asks for, ascending (default:
    the latest one)."""
    policy = model.model_version_policy
    kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return sorted(available)
    if kind == "specific":
        return sorted(v for v in available if v in set(policy.specific.versions))
    count = policy.latest.num_versions if kind == "latest" else 1
    return sorted(available)[-max(count, 1):]
