"""Server settings, and TF Serving's model config file (`ModelServerConfig` text format)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

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
    grace_seconds: float = 10.0


def read_model_config_file(path: str | Path) -> ModelServerConfig:
    """Parses a TF Serving model config file; raises ValueError saying where it is wrong."""
    text = Path(path).read_text()
    try:
        config = text_format.Parse(text, ModelServerConfig())
    except text_format.ParseError as e:
        raise ValueError(f"{path} is not a valid ModelServerConfig text proto: {e}") from e
    if config.WhichOneof("config") != "model_config_list":
        raise ValueError(f"{path} has no model_config_list; it is the only config supported")
    return config


def model_configs(config: ServerConfig) -> list[ModelConfig]:
    """The models to serve: from `--model_config_file`, else the single
    `--model_name`/`--model_base_path` pair, exactly as TF Serving chooses."""
    if config.model_config_file:
        models = list(read_model_config_file(config.model_config_file).model_config_list.config)
        check_models(models)
    elif config.model_base_path:
        models = [ModelConfig(name=config.model_name, base_path=config.model_base_path,
                              model_platform="tensorflow")]
    else:
        raise ValueError("give --model_config_file, or --model_base_path (and --model_name)")
    return models


def check_models(models: list[ModelConfig]) -> None:
    """Raises ValueError for what TF Serving refuses in a model list: repeated
    names, and labels naming versions absent from the model's folder."""
    names = [m.name for m in models]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"model names must be unique; repeated: {', '.join(duplicates)}")
    for model in models:
        for label, version in model.version_labels.items():
            if not (Path(model.base_path) / str(version)).is_dir():
                raise ValueError(
                    f"version label {label!r} of model {model.name} points at version "
                    f"{version}, which is not in {model.base_path}; export it first")


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
