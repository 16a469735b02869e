"""Server configuration: TF Serving's model config file and version policies."""

from __future__ import annotations

import subprocess
import sys

import pytest
from google.protobuf import text_format

from serving.config import ModelConfig, ServerConfig, model_configs, select_versions


def config(text: str) -> ModelConfig:
    return text_format.Parse(text, ModelConfig())


@pytest.mark.parametrize("policy,expected", [
    ("", [9]),
    ("model_version_policy { latest { num_versions: 2 } }", [4, 9]),
    ("model_version_policy { all {} }", [1, 2, 4, 9]),
    ("model_version_policy { specific { versions: 2 versions: 5 } }", [2]),
])
def test_version_policy_selects_versions(policy, expected):
    model = config(f'name: "m" base_path: "/x" {policy}')
    assert select_versions([4, 1, 9, 2], model) == expected


def test_single_model_flags_make_one_model():
    [model] = model_configs(ServerConfig(model_name="m", model_base_path="/models/m"))
    assert (model.name, model.base_path, model.model_platform) == ("m", "/models/m", "tensorflow")


def test_config_file_lists_models(tmp_path):
    path = tmp_path / "models.config"
    path.write_text('model_config_list { config { name: "a" base_path: "/a" '
                    'model_platform: "tensorflow" } config { name: "b" base_path: "gs://m/b" '
                    'model_platform: "tensorflow" } }')
    assert [m.name for m in model_configs(ServerConfig(model_config_file=str(path)))] == ["a", "b"]


@pytest.mark.parametrize("text,message", [
    ("model_config_list { config { nam: 'a' } }",
     "Error parsing text-format tensorflow.serving.ModelServerConfig"),
    ("", "no model_config_list"),
    ('model_config_list { config { name: "a" } config { name: "a" } }',
     "Illegal to list model a multiple times in config list"),
])
def test_bad_config_files_say_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "models.config"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        model_configs(ServerConfig(model_config_file=str(path)))


def test_no_models_at_all_is_an_error():
    with pytest.raises(ValueError, match="Both server_options.model_base_path and "
                       "server_options.model_config_file are empty!"):
        model_configs(ServerConfig())


def test_a_config_file_that_does_not_parse_stops_startup_as_tf_serving_does(tmp_path):
    # model_servers/server.cc: ParseProtoTextFile fails, main.cc returns -1 (status 255),
    # and protobuf's parser names the message type (TF Serving's testBadModelConfig)
    bad = tmp_path / "models.config"
    bad.write_text("improperly formatted file\n")
    done = subprocess.run([sys.executable, "-m", "serving", f"--model_config_file={bad}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 255
    assert "Error parsing text-format tensorflow.serving.ModelServerConfig" in done.stderr
    assert f"Invalid protobuf file: '{bad}'" in done.stderr
    assert "Traceback" not in done.stderr
