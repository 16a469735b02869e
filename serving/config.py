"""Server settings, and TF Serving's model config file (`ModelServerConfig` text format)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving.config_rules import TENSORFLOW_PLATFORM, ConfigError, validate_model_list
from serving.connections import ConnectionLimits

ModelServerConfig = model_server_config_pb2.ModelServerConfig
ModelConfig = model_server_config_pb2.ModelConfig


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
    max_message_bytes: int = 64 * 1024 * 1024
    max_request_tensor_bytes: int = 64 * 1024 * 1024  # decoded tensors of one request
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

    def connection_limits(self) -> ConnectionLimits:
        return ConnectionLimits(self.max_connections, self.receive_timeout_seconds,
                                self.header_timeout_seconds, self.idle_timeout_seconds)


def read_model_config_file(path: str | Path) -> ModelServerConfig:
    """Parses a TF Serving model config file; raises ValueError saying where it is wrong."""
    text = Path(path).read_text()
    try:
        config = text_format.Parse(text, ModelServerConfig())
    except text_format.ParseError as e:
        raise ValueError(f"{path} is not a valid ModelServerConfig text proto: {e}") from e
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
