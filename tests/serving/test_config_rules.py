"""TF Serving's startup and reload rules, with its messages, on the embedded server.

The spec is tensorflow/serving: model_servers/server_core.cc (ValidateModelConfigList,
GetPlatform, ValidateNoModelsChangePlatforms, UpdateModelVersionLabelMap,
UpdateModelConfigListRelativePaths), model_servers/server.cc (BuildAndStart) and
model_servers/BUILD (the file systems linked). docs/serving.md tabulates each rule.
"""

from __future__ import annotations

import pytest
from google.protobuf import text_format

from serving.config import ModelConfig, ServerConfig, model_configs
from serving.config_rules import ConfigError, LabelError, validate_model_list
from serving.repository import ModelRepository
from serving.servable import load_servable
from tests.serving.conftest import write_doubler


def model(text: str) -> ModelConfig:
    return text_format.Parse(text, ModelConfig())


def tf_model(name: str, base_path: str, extra: str = "") -> ModelConfig:
    return model(f'name: "{name}" base_path: "{base_path}" model_platform: "tensorflow" {extra}')


@pytest.mark.parametrize("models, root, message", [
    ([tf_model("a", "/x"), tf_model("a", "/y")], None,
     "Illegal to list model a multiple times in config list"),
    ([tf_model("classifier", "model_repository/classifier")], None,
     "Expected model classifier to have an absolute path or URI; "
     "got base_path()=model_repository/classifier"),
    ([tf_model("a", "a")], "relative/root",
     "Expected non-empty absolute path or URI; got model_config_list_root_dir=relative/root"),
    ([model('name: "a" base_path: "/a"')], None,
     "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
     "ModelServerConfig::model_platform, model name is a"),
    ([model('name: "a" base_path: "/a" model_type: TENSORFLOW model_platform: "tensorflow"')],
     None, "Illegal setting both ModelServerConfig::model_type (deprecated) and "
           "ModelServerConfig::model_platform, model name is a"),
    ([model('name: "a" base_path: "/a" model_platform: "pytorch"')], None,
     "Model a requests unsupported platform pytorch"),
    ([tf_model("a", "s3://bucket/a")], None,
     "File system scheme 's3' not implemented (file: 's3://bucket/a')"),
    ([tf_model("a", "hdfs://namenode/a")], None, "File system scheme 'hdfs' not implemented"),
])
def test_configs_tf_serving_refuses_are_refused_with_its_message(models, root, message):
    with pytest.raises(ConfigError) as caught:
        validate_model_list(models, root)
    assert str(caught.value).startswith(message)


def test_absolute_paths_and_gcs_uris_pass_unchanged():
    models = [tf_model("a", "/models/a"), tf_model("b", "gs://bucket/b"),
              tf_model("c", "file:///models/c"), model('name: "d" base_path: "/d" '
                                                        "model_type: TENSORFLOW")]
    assert [m.base_path for m in validate_model_list(models)] == [
        "/models/a", "gs://bucket/b", "file:///models/c", "/d"]


def test_a_root_dir_joins_relative_paths_only():
    models = [tf_model("a", "model_repository/a"), tf_model("b", "/elsewhere/b")]
    resolved = validate_model_list(models, "/srv/project")
    assert [m.base_path for m in resolved] == ["/srv/project/model_repository/a", "/elsewhere/b"]
    assert models[0].base_path == "model_repository/a"  # the caller's list is left alone


@pytest.mark.parametrize("flags, message", [
    ({}, "Both server_options.model_base_path and server_options.model_config_file are "
         "empty!"),
    ({"model_base_path": "/m", "batching_parameters_file": "serving/batching.config"},
     "server_options.batching_parameters_file is set without setting "
     "server_options.enable_batching to true."),
    ({"model_base_path": "relative/m"},
     "Expected model default to have an absolute path or URI; got base_path()=relative/m"),
])
def test_server_flags_tf_serving_refuses(flags, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        model_configs(ServerConfig(**flags))


def test_custom_model_config_is_refused(tmp_path):
    path = tmp_path / "models.config"
    path.write_text('custom_model_config { type_url: "x" }')
    with pytest.raises(ConfigError, match="ModelServer does not yet support custom model config"):
        model_configs(ServerConfig(model_config_file=str(path)))


@pytest.fixture
def doubler_root(tmp_path):
    write_doubler(tmp_path / "1")
    load_servable("m", 1, tmp_path / "1")  # it loads
    return tmp_path


def test_labels_at_startup_need_the_allow_flag(doubler_root):
    labelled = [tf_model("m", str(doubler_root), 'version_labels { key: "stable" value: 1 }')]
    with pytest.raises(LabelError, match="Request to assign label to version 1 of model m, "
                                         "which is not currently available for inference"):
        ModelRepository(labelled)
    repository = ModelRepository(labelled, allow_labels_for_unavailable=True)
    repository.poll()
    assert repository.servable("m", label="stable").version == 1


def test_a_label_moves_only_to_an_available_version_even_with_the_flag(doubler_root):
    def labelled(version: int) -> list[ModelConfig]:
        return [tf_model("m", str(doubler_root), "model_version_policy { all {} } "
                         f'version_labels {{ key: "stable" value: {version} }}')]

    repository = ModelRepository(labelled(1), allow_labels_for_unavailable=True)
    repository.poll()
    write_doubler(doubler_root / "2")
    with pytest.raises(LabelError, match="version 2 of model m, which is not currently"):
        repository.set_models(labelled(2))
    assert repository.servable("m", label="stable").version == 1  # the old config stands
    repository.poll()  # version 2 becomes AVAILABLE under the old config's policy
    repository.set_models(labelled(2))
    assert repository.servable("m", label="stable").version == 2


def test_a_model_cannot_change_platform_on_reload(doubler_root):
    repository = ModelRepository([tf_model("m", str(doubler_root))])
    with pytest.raises(ConfigError, match="Illegal to change a model's platform. For model m "
                                          "platform was tensorflow and new platform requested "
                                          "is tensorflow_lite"):
        repository.set_models([model(f'name: "m" base_path: "{doubler_root}" '
                                     'model_platform: "tensorflow_lite"')])
