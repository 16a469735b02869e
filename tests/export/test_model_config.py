"""`tfstack export` and `tfstack label` keep TF Serving's model config file in step."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from export.model_config import (
    DEFAULT_CONFIG_FILE,
    config_file_for,
    read_model_config,
    register_model,
    set_label,
)
from serving.config import ServerConfig, model_configs


def policy(config, name="classifier") -> str:
    [entry] = [m for m in config.model_config_list.config if m.name == name]
    return entry.model_version_policy.WhichOneof("policy_choice")


def test_new_model_is_listed_with_latest_policy_and_rewriting_is_idempotent(tmp_path):
    path = tmp_path / "models.config"
    register_model(path, "classifier", "model_repository/classifier")
    first = path.read_text()
    register_model(path, "classifier", "model_repository/classifier")
    assert path.read_text() == first
    config = read_model_config(path)
    assert policy(config) == "latest"
    [entry] = config.model_config_list.config
    assert (entry.base_path, entry.model_platform) == ("model_repository/classifier",
                                                       "tensorflow")


def test_rollout_canary_then_stable(tmp_path):
    path = tmp_path / "models.config"
    register_model(path, "classifier", "repo/classifier", {"stable": 1})
    register_model(path, "classifier", "repo/classifier", {"canary": 2})
    config = read_model_config(path)
    [entry] = config.model_config_list.config
    assert dict(entry.version_labels) == {"stable": 1, "canary": 2}
    assert list(entry.model_version_policy.specific.versions) == [1, 2]
    set_label(path, "classifier", "stable", 2)
    set_label(path, "classifier", "canary", None)
    [entry] = read_model_config(path).model_config_list.config
    assert dict(entry.version_labels) == {"stable": 2}
    assert list(entry.model_version_policy.specific.versions) == [2]


def test_other_models_are_kept(tmp_path):
    path = tmp_path / "models.config"
    register_model(path, "qa", "repo/qa")
    register_model(path, "classifier", "repo/classifier")
    assert [m.name for m in read_model_config(path).model_config_list.config] == [
        "qa", "classifier"]


def test_the_server_reads_what_export_writes(tmp_path):
    (tmp_path / "repo" / "classifier" / "3").mkdir(parents=True)
    path = tmp_path / "models.config"
    register_model(path, "classifier", tmp_path / "repo" / "classifier", {"stable": 3})
    [model] = model_configs(ServerConfig(model_config_file=str(path)))
    assert model.version_labels["stable"] == 3


def test_label_command(tmp_path):
    path = tmp_path / "models.config"
    register_model(path, "classifier", "repo/classifier")

    def label(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tfstack.command", "label", *args,
                               "--config", str(path)], capture_output=True, text=True)

    assert label("classifier", "stable", "4").returncode == 0
    assert dict(read_model_config(path).model_config_list.config[0].version_labels) == {
        "stable": 4}
    missing = label("resnet", "stable", "1")
    assert missing.returncode == 1 and "lists no model 'resnet'" in missing.stderr
    assert label("classifier", "stable").returncode == 2


def test_each_repository_keeps_its_own_config(tmp_path, monkeypatch):
    assert config_file_for("model_repository") == Path(DEFAULT_CONFIG_FILE)
    assert config_file_for(Path.cwd() / "model_repository") == Path(DEFAULT_CONFIG_FILE)
    assert config_file_for(tmp_path / "scratch") == tmp_path / "scratch" / "models.config"
    monkeypatch.chdir(tmp_path)
    assert config_file_for("model_repository") == Path(DEFAULT_CONFIG_FILE)
    assert config_file_for("../model_repository") == Path("../model_repository/models.config")


@pytest.mark.fashion
def test_export_command_lists_the_new_version_under_its_label(trained_classifier, tmp_path):
    tracked = Path(DEFAULT_CONFIG_FILE).read_bytes()
    result = subprocess.run(
        [sys.executable, "-m", "tfstack.command", "export", "classifier",
         "--model-dir", str(trained_classifier.model_dir), "--repository",
         str(tmp_path / "repo"), "--label", "canary"],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert Path(DEFAULT_CONFIG_FILE).read_bytes() == tracked  # a scratch export: own config
    config = tmp_path / "repo" / "models.config"
    [entry] = read_model_config(config).model_config_list.config
    assert entry.base_path == str(tmp_path / "repo" / "classifier")
    assert dict(entry.version_labels) == {"canary": 1}
