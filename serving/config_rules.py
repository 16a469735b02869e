"""TF Serving's rules for a model config list, with TF Serving's own messages.

A config that the stock image refuses at startup is refused here too, so a
repository and config that start on `tfstack serve` start on `tensorflow/serving`.
Each rule names the TF Serving source that holds it; docs/serving.md tabulates them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from urllib.parse import urlsplit

from tensorflow_serving.config import model_server_config_pb2

from serving.errors import FailedPrecondition, InvalidArgument

ModelConfig = model_server_config_pb2.ModelConfig
TENSORFLOW_PLATFORM = "tensorflow"
# File systems the model server binary links since 2.7 (model_servers/BUILD: the local
# one, and tensorflow/core/platform/cloud:gcs_file_system); s3 and hdfs are gone.
READABLE_SCHEMES = ("", "file", "gs")


class ConfigError(InvalidArgument, ValueError):
    """A config TF Serving refuses, with the status it answers a reload with; also a
    ValueError, so a bad config at startup stops the server with its message."""


class LabelError(ConfigError):
    """A version label TF Serving refuses (FAILED_PRECONDITION)."""

    code = FailedPrecondition.code


def is_relative(uri: str) -> bool:
    """UriIsRelativePath (server_core.cc): no scheme, no host, and not an absolute path."""
    parts = urlsplit(uri)
    return not parts.scheme and not parts.netloc and not posixpath.isabs(parts.path)


def validate_model_list(models: list[ModelConfig], root_dir: str | None = None,
                        ) -> list[ModelConfig]:
    """Checks a model list as ServerCore::ReloadConfig does and returns it with relative
    base paths joined to `root_dir` (ServerCore's model_config_list_root_dir)."""
    names: set[str] = set()
    for model in models:  # ValidateModelConfigList: unique names
        if model.name in names:
            raise ConfigError(f"Illegal to list model {model.name} multiple times in "
                              "config list")
        names.add(model.name)
    if root_dir is not None and is_relative(root_dir):
        raise ConfigError("Expected non-empty absolute path or URI; got "
                          f"model_config_list_root_dir={root_dir}")
    resolved = []
    for model in models:
        if platform(model) != TENSORFLOW_PLATFORM:  # ServerCore's platform routes
            raise ConfigError(f"Model {model.name} requests unsupported platform "
                              f"{platform(model)}")
        copy = ModelConfig()
        copy.CopyFrom(model)
        copy.base_path = _absolute_base_path(model, root_dir)
        _check_scheme(copy)
        resolved.append(copy)
    return resolved


def _absolute_base_path(model: ModelConfig, root_dir: str | None) -> str:
    if not is_relative(model.base_path):
        return model.base_path
    if root_dir is None:  # ValidateModelConfigList, no root dir: all absolute
        raise ConfigError(f"Expected model {model.name} to have an absolute path or URI; "
                          f"got base_path()={model.base_path}")
    return posixpath.join(root_dir, model.base_path)  # UpdateModelConfigListRelativePaths


def _check_scheme(model: ModelConfig) -> None:
    """What TensorFlow's file system registry answers for a scheme the binary lacks
    (tensorflow/core/platform/env.cc), at startup rather than at each load."""
    scheme = urlsplit(model.base_path).scheme
    if scheme not in READABLE_SCHEMES:
        raise ConfigError(f"File system scheme '{scheme}' not implemented (file: "
                          f"'{model.base_path}'); model {model.name}: TF Serving reads "
                          "local paths and gs:// only")


def platform(model: ModelConfig) -> str:
    """GetPlatform (server_core.cc): model_platform, or the deprecated model_type."""
    if model.model_type:
        if model.model_platform:
            raise ConfigError("Illegal setting both ModelServerConfig::model_type "
                              "(deprecated) and ModelServerConfig::model_platform, model "
                              f"name is {model.name}")
        if model.model_type != model_server_config_pb2.TENSORFLOW:
            raise ConfigError(f"ModelServerConfig::model_type choice {model.model_type} "
                              "not supported.")
        return TENSORFLOW_PLATFORM
    if not model.model_platform:
        raise ConfigError("Illegal setting neither ModelServerConfig::model_type "
                          "(deprecated) nor ModelServerConfig::model_platform, model name "
                          f"is {model.name}")
    return model.model_platform


def check_platforms_unchanged(old: list[ModelConfig], new: list[ModelConfig]) -> None:
    """ValidateNoModelsChangePlatforms (server_core.cc), for a reload."""
    before = {m.name: platform(m) for m in old}
    for model in new:
        if model.name in before and platform(model) != before[model.name]:
            raise ConfigError(f"Illegal to change a model's platform. For model "
                              f"{model.name} platform was {before[model.name]} and new "
                              f"platform requested is {platform(model)}")


def check_labels(models: list[ModelConfig], available: Mapping[str, set[int]],
                 current: Mapping[str, Mapping[str, int]], allow_unavailable: bool) -> None:
    """UpdateModelVersionLabelMap (server_core.cc): a label may name only an AVAILABLE
    version; with --allow_version_labels_for_unavailable_models, also any version when
    the label is new or keeps its version (moving a label still needs it AVAILABLE)."""
    for model in models:
        for label, version in model.version_labels.items():
            existing = current.get(model.name, {}).get(label)
            if allow_unavailable and existing in (None, version):
                continue
            if version not in available.get(model.name, set()):
                raise LabelError(f"Request to assign label to version {version} of model "
                                 f"{model.name}, which is not currently available for "
                                 "inference")
