"""Version management that cannot die: every failure while loading is recorded on its
version, the last good version keeps serving, and polling outlives any exception.

TF Serving records a failed load on the version's status (state END with the error,
core/servable_state_monitor.cc) and keeps the aspired versions it has
(core/aspired_versions_manager.cc); its file-system polling never stops.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
from google.protobuf import text_format

import serving.repository as repository_module
from export.warmup import predict_log, write_warmup
from serving.config import ModelConfig
from serving.dataplane import DataPlane
from serving.polling import poll_versions
from serving.repository import ModelRepository
from tests.serving.conftest import write_doubler


def config(name: str, base) -> ModelConfig:
    return text_format.Parse(f'name: "{name}" base_path: "{base}" model_platform: "tensorflow"',
                             ModelConfig())


def test_a_truncated_warmup_file_fails_only_its_version(tmp_path):
    write_doubler(tmp_path / "1")
    path = write_doubler(tmp_path / "2")
    write_warmup(path, [predict_log("m", "serving_default", {"x": np.ones((1, 2), "f4")})] * 3)
    warmup = path / "assets.extra" / "tf_serving_warmup_requests"
    warmup.write_bytes(warmup.read_bytes()[:-7])  # DataLossError in TFRecordDataset
    repository = ModelRepository([config("m", tmp_path)])
    (tmp_path / "2").rename(tmp_path / "2.tmp")
    repository.poll()  # version 1 serves
    (tmp_path / "2.tmp").rename(tmp_path / "2")
    repository.poll()  # must not raise
    [broken] = repository.states("m", 2)
    assert broken.state == "END"
    assert "DataLossError" in str(broken.error) and "version 2" in str(broken.error)
    assert repository.servable("m").version == 1


def test_a_saved_model_that_raises_on_load_is_recorded_and_other_models_load(
        tmp_path, monkeypatch):
    write_doubler(tmp_path / "bad" / "1")
    write_doubler(tmp_path / "good" / "1")
    real = repository_module.load_servable

    def load(name, version, path, options):
        if name == "bad":
            raise RuntimeError("the loader blew up")
        return real(name, version, path, options)

    monkeypatch.setattr(repository_module, "load_servable", load)
    repository = ModelRepository([config("bad", tmp_path / "bad"),
                                  config("good", tmp_path / "good")])
    repository.poll()
    [state] = repository.states("bad")
    assert state.state == "END" and "RuntimeError: the loader blew up" in str(state.error)
    assert repository.servable("good").version == 1


def test_a_config_reload_waits_for_the_poll_in_progress(tmp_path, monkeypatch):
    write_doubler(tmp_path / "a" / "1")
    write_doubler(tmp_path / "b" / "1")
    loading, release = threading.Event(), threading.Event()
    real = repository_module.load_servable

    def slow_load(name, version, path, options):
        if name == "b":
            loading.set()
            release.wait(30)
        return real(name, version, path, options)

    monkeypatch.setattr(repository_module, "load_servable", slow_load)
    repository = ModelRepository([config("a", tmp_path / "a")])
    repository.poll()
    repository.set_models([config("a", tmp_path / "a"), config("b", tmp_path / "b")])
    polling = threading.Thread(target=repository.poll)
    polling.start()
    assert loading.wait(30)
    reload = threading.Thread(target=repository.set_models, args=([config("b", tmp_path / "b")],))
    reload.start()
    reload.join(0.5)
    assert reload.is_alive(), "the reload must wait until the poll has finished"
    release.set()
    polling.join(30)
    reload.join(30)
    repository.poll()  # unloads "a"; raised KeyError when the reload raced the unload
    assert repository.model_names == ["b"]
    assert repository.servable("b").version == 1


def test_polling_outlives_a_failing_poll(tmp_path):
    write_doubler(tmp_path / "1")
    repository = ModelRepository([config("m", tmp_path)])
    calls = []

    def poll():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("disk went away")

    repository.poll = poll
    dataplane = DataPlane(repository, max_threads=1)

    async def run_until_polled_twice():
        task = asyncio.create_task(poll_versions(dataplane, 0.01))
        while len(calls) < 2 and not task.done():
            await asyncio.sleep(0.01)
        assert not task.done(), "the polling task died with the first failure"
        task.cancel()

    asyncio.run(asyncio.wait_for(run_until_polled_twice(), 30))
    dataplane.close()
    assert len(calls) >= 2


@pytest.fixture(autouse=True)
def _quiet_errors(caplog):
    caplog.set_level("CRITICAL", logger="serving")
