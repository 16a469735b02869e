"""Versions coming and going while serving: TF Serving's availability-preserving
behaviour, on SavedModels written by plain tf.saved_model.save."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from google.protobuf import text_format

from serving.config import ModelConfig
from serving.errors import NotFound
from serving.repository import LoadPolicy, ModelRepository, parse_version
from tests.serving.conftest import write_doubler

X = {"x": np.ones((1, 2), np.float32)}


def config(name: str, base, policy: str = "") -> ModelConfig:
    return text_format.Parse(f'name: "{name}" base_path: "{base}" model_platform: "tensorflow" '
                             f'{policy}', ModelConfig())


def states(repository: ModelRepository, name: str = "m") -> dict[int, str]:
    return {s.version: s.state for s in repository.states(name)}


@pytest.fixture
def root(tmp_path):
    write_doubler(tmp_path / "m" / "1")
    return tmp_path / "m"


def test_new_version_replaces_the_old_one(root):
    repository = ModelRepository([config("m", root)])
    repository.poll()
    shutil.copytree(root / "1", root / "2")
    repository.poll()
    assert repository.servable("m").version == 2
    assert states(repository) == {1: "END", 2: "AVAILABLE"}
    with pytest.raises(NotFound, match="Versions available: 2"):
        repository.servable("m", version=1)


def test_corrupt_new_version_leaves_the_old_one_serving_until_fixed(root):
    repository = ModelRepository([config("m", root)], policy=LoadPolicy(max_retries=1))
    repository.poll()
    (root / "2").mkdir()
    (root / "2" / "saved_model.pb").write_bytes(b"half-written")
    repository.poll()
    assert repository.servable("m").version == 1
    [broken] = repository.states("m", 2)
    assert broken.state == "END" and "does not parse" in str(broken.error)
    shutil.rmtree(root / "2")
    shutil.copytree(root / "1", root / "2")  # the copy completes
    repository.poll()
    assert repository.servable("m").version == 2


def test_removed_version_is_unloaded_and_in_flight_holders_finish(root):
    shutil.copytree(root / "1", root / "2")
    repository = ModelRepository([config("m", root, "model_version_policy { all {} }")])
    repository.poll()
    in_flight = repository.servable("m", version=1)
    shutil.rmtree(root / "1")
    repository.poll()
    assert states(repository) == {1: "END", 2: "AVAILABLE"}
    assert in_flight.run("serving_default", X)["y"].tolist() == [[2.0, 2.0]]


def test_models_added_and_removed_by_a_new_config(root, tmp_path):
    write_doubler(tmp_path / "n" / "5")
    repository = ModelRepository([config("m", root)])
    repository.poll()
    repository.set_models([config("n", tmp_path / "n")])
    repository.poll()
    assert repository.servable("n").version == 5
    with pytest.raises(NotFound, match="Models served: n"):
        repository.servable("m")


def test_model_without_versions_is_unavailable_with_a_pointer_to_its_status(tmp_path):
    repository = ModelRepository([config("m", tmp_path / "empty")])
    repository.poll()
    with pytest.raises(Exception, match="no version loaded; see its status"):
        repository.servable("m")


# Version folders are what absl::SimpleAtoi reads as an int64 (TF Serving's
# sources/storage_path/file_system_storage_path_source.cc, ParseVersionNumber).
@pytest.mark.parametrize("name, version", [
    ("7", 7), ("00000123", 123), ("+5", 5), (" 8 ", 8), ("-3", -3),
    ("\u00b2", None), ("\u0663", None), ("1.5", None), ("0x10", None), ("", None),
    ("x1", None), (str(2**63), None), (str(2**63 - 1), 2**63 - 1),
])
def test_version_folder_names_are_parsed_as_tf_serving_parses_them(name, version):
    assert parse_version(name) == version


def test_a_zero_padded_version_folder_is_served_as_its_number(tmp_path):
    write_doubler(tmp_path / "m" / "00000123")
    repository = ModelRepository([config("m", tmp_path / "m")])
    repository.poll()
    assert states(repository) == {123: "AVAILABLE"}
    assert repository.servable("m", 123).path == tmp_path / "m" / "00000123"


def test_odd_folders_and_an_unreadable_model_never_stop_other_models(root, tmp_path):
    for odd in ("\u00b2", "\u0663", "1.5", "latest"):
        (root / odd).mkdir()
    # A base path the file system refuses to look at (as root, a mode-000 folder is
    # still readable; a name over 255 bytes is not): stat raises ENAMETOOLONG.
    unreadable = tmp_path / ("x" * 300)
    repository = ModelRepository([config("unreadable", unreadable), config("m", root)])
    repository.poll()  # logged, not raised
    assert states(repository) == {1: "AVAILABLE"}
    assert states(repository, "unreadable") == {}


def test_of_two_folders_naming_one_version_the_last_in_name_order_is_loaded(root):
    shutil.copytree(root / "1", root / "001")
    repository = ModelRepository([config("m", root)])
    repository.poll()
    assert repository.servable("m", 1).path.name == "1"  # "001" < "1"
