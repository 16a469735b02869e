"""Keeping TF Serving's model config file (`serving/models.config`) in step with the
model repository: every exported model listed, its version policy, its labels."""

from __future__ import annotations

import os
import posixpath
import tempfile
from pathlib import Path

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from export.locations import DEFAULT_CONFIG_FILE, DEFAULT_REPOSITORY

ModelServerConfig = model_server_config_pb2.ModelServerConfig
# TF Serving refuses relative base paths and its binary has no flag for a root folder
# (server_core.cc, main.cc), so the containers read a copy of the config whose paths
# are joined to the folder docker-compose.yml mounts the project at in every container.
CONTAINER_ROOT = "/models"
CONTAINER_CONFIG_FILE = "serving/tfserving/models.config"
_HEADER = """\
# TF Serving model config (ModelServerConfig, text format), kept in step with
# model_repository/ by `tfstack export` and `tfstack label`. Read by `make up`'s
# `tfstack serve`, which joins the relative base paths below to the project folder
# (--model_config_list_root_dir); the containers read serving/tfserving/models.config,
# the same list with absolute paths. A model with version labels serves exactly its
# labelled versions; one without serves its latest version.
"""
_CONTAINER_HEADER = f"""\
# Written by `tfstack export` and `tfstack label` from serving/models.config: the same
# models with base paths under {CONTAINER_ROOT}, where docker-compose.yml mounts the
# project in the tensorflow/serving (and tfstack) containers. Do not edit by hand.
"""


def config_file_for(repository: str | Path) -> Path:
    """The config kept in step with `repository`: the tracked `serving/models.config` for
    the project's own repository, `REPOSITORY/models.config` for any other, so that
    exporting to a scratch folder never repoints the served models."""
    if Path(repository).resolve() == Path(DEFAULT_REPOSITORY).resolve():
        return Path(DEFAULT_CONFIG_FILE)
    return Path(repository) / "models.config"


def read_model_config(path: str | Path) -> ModelServerConfig:
    """The config in `path`, or an empty model list if there is no such file."""
    path = Path(path)
    config = ModelServerConfig()
    if path.exists():
        text_format.Parse(path.read_text(), config)
    config.model_config_list.SetInParent()
    return config


def write_model_config(path: str | Path, config: ModelServerConfig) -> None:
    """Writes atomically, so a server polling the file never reads half of it; for the
    project's own config, also the containers' copy with absolute paths."""
    _write_atomically(Path(path), _HEADER + text_format.MessageToString(config))
    if Path(path).resolve() == Path(DEFAULT_CONFIG_FILE).resolve():
        _write_atomically(Path(CONTAINER_CONFIG_FILE), _CONTAINER_HEADER
                          + text_format.MessageToString(container_config(config)))


def container_config(config: ModelServerConfig, root: str = CONTAINER_ROOT,
                     ) -> ModelServerConfig:
    """`config` with each relative base path joined to `root`, as ServerCore joins
    them to model_config_list_root_dir."""
    resolved = ModelServerConfig()
    resolved.CopyFrom(config)
    for entry in resolved.model_config_list.config:
        if not os.path.isabs(entry.base_path) and "://" not in entry.base_path:
            entry.base_path = posixpath.join(root, entry.base_path)
    return resolved


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False,
                                     prefix=f".{path.name}.") as staging:
        staging.write(text)
    os.replace(staging.name, path)


def register_model(path: str | Path, name: str, base_path: str | Path,
                   labels: dict[str, int] | None = None) -> ModelServerConfig:
    """Lists model `name` at `base_path` (adding it if new) and sets `labels`."""
    config = read_model_config(path)
    entry = _entry(config, name)
    if entry is None:
        entry = config.model_config_list.config.add(name=name, model_platform="tensorflow")
    entry.base_path = str(base_path)
    for label, version in (labels or {}).items():
        entry.version_labels[label] = version
    _set_policy(entry)
    write_model_config(path, config)
    return config


def set_label(path: str | Path, name: str, label: str, version: int | None) -> None:
    """Points `label` of model `name` at `version` (None removes the label)."""
    config = read_model_config(path)
    entry = _entry(config, name)
    if entry is None:
        raise ValueError(f"{path} lists no model {name!r}; export it first")
    if version is None:
        entry.version_labels.pop(label, None)
    else:
        entry.version_labels[label] = version
    _set_policy(entry)
    write_model_config(path, config)


def _entry(config: ModelServerConfig, name: str):
    return next((m for m in config.model_config_list.config if m.name == name), None)


def _set_policy(entry) -> None:
    """Labelled versions are served exactly; otherwise the latest one."""
    entry.ClearField("model_version_policy")
    if entry.version_labels:
        entry.model_version_policy.specific.versions.extend(
            sorted(set(entry.version_labels.values())))
    else:
        entry.model_version_policy.latest.num_versions = 1
