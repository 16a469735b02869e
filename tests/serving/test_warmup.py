"""Warm-up at load: good records run before serving; a failing record fails the load."""

from __future__ import annotations

import numpy as np
import pytest

from export.warmup import predict_log, write_warmup
from serving.config import ServerConfig, model_configs
from serving.errors import NotFound
from serving.repository import ModelRepository
from serving.servable import load_servable
from serving.warmup import replay_warmup
from tests.serving.conftest import write_doubler


def test_good_records_are_replayed(tmp_path):
    path = write_doubler(tmp_path / "1")
    write_warmup(path, [predict_log("m", "serving_default", {"x": np.ones((1, 2), "f4")}),
                        predict_log("m", "shout", {"text": np.array([b"a"])})])
    assert replay_warmup(load_servable("m", 1, path)) == 2


def test_model_without_records_needs_no_warmup(tmp_path):
    assert replay_warmup(load_servable("m", 1, write_doubler(tmp_path / "1"))) == 0


def test_failing_record_fails_the_version_and_older_versions_serve(tmp_path):
    write_doubler(tmp_path / "1")
    path = write_doubler(tmp_path / "2")
    write_warmup(path, [predict_log("m", "serving_default", {"x": np.ones((1, 5), "f4")})])
    model = model_configs(ServerConfig(model_name="m", model_base_path=str(tmp_path)))[0]
    model.model_version_policy.all.SetInParent()
    repository = ModelRepository([model])
    repository.poll()
    states = {s.version: s for s in repository.states("m")}
    assert states[1].state == "AVAILABLE"
    assert states[2].state == "END"
    assert "warm-up record 0" in str(states[2].error)
    assert "expects shape [-1,2]" in str(states[2].error)
    assert repository.servable("m").version == 1
    with pytest.raises(NotFound):
        repository.servable("m", version=2)
