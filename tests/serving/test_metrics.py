"""Prometheus metrics scraped from the REST port, as a monitoring system would."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from serving.metrics import DEFAULT_PATH, prometheus_path


def scrape(server) -> dict[str, list]:
    text = requests.get(server.rest_url + DEFAULT_PATH, timeout=30).text
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def test_requests_states_and_load_times_are_exported(server):
    url = f"{server.rest_url}/v1/models/doubler:predict"
    requests.post(url, json={"instances": [[1, 2]]}, timeout=30)
    requests.post(url, json={"instances": [1, 2, 3]}, timeout=30)  # rank 1: the graph refuses
    metrics = scrape(server)
    counts = {(s.labels["status"], s.labels["version"]): s.value
              for s in metrics[":tensorflow:serving:request_count"]
              if s.name.endswith("_total") and s.labels["model_name"] == "doubler"}
    assert counts[("OK", "2")] >= 1 and counts[("INVALID_ARGUMENT", "2")] >= 1
    latency = [s for s in metrics[":tensorflow:serving:request_latency_seconds"]
               if s.name.endswith("_count") and s.labels["model_name"] == "doubler"]
    assert sum(s.value for s in latency) >= 2
    states = {(s.labels["version"], s.labels["state"])
              for s in metrics[":tensorflow:serving:model_version_state"]
              if s.labels["model_name"] == "doubler"}
    assert {("1", "AVAILABLE"), ("2", "AVAILABLE"), ("3", "END")} <= states
    loads = [s.value for s in metrics[":tensorflow:serving:model_load_seconds"]]
    assert loads and all(value > 0 for value in loads)


@pytest.mark.parametrize("text,expected", [
    ('prometheus_config { enable: true, path: "/metrics" }', "/metrics"),
    ("prometheus_config { enable: true }", DEFAULT_PATH),
    ("prometheus_config { enable: false }", None),
])
def test_monitoring_config_file(tmp_path, text, expected):
    path = tmp_path / "monitoring.config"
    path.write_text(text)
    assert prometheus_path(path) == expected



def test_warm_up_time_is_exported_beside_load_time(tmp_path):
    """A version is AVAILABLE (ready) only once its warm-up has been replayed; how long
    that took is its own gauge, within the load time."""
    import numpy as np
    from google.protobuf import text_format

    from export.warmup import predict_log, write_warmup
    from serving.config import ModelConfig
    from serving.metrics import ServingMetrics
    from serving.repository import ModelRepository
    from tests.serving.conftest import write_doubler

    write_doubler(tmp_path / "1")
    write_warmup(write_doubler(tmp_path / "2"), [
        predict_log("m", "serving_default", {"x": np.ones((1, 2), "f4")})] * 20)
    repository = ModelRepository([text_format.Parse(
        f'name: "m" base_path: "{tmp_path}" model_platform: "tensorflow" '
        'model_version_policy { all {} }', ModelConfig())])
    repository.poll()
    text = ServingMetrics(repository).render().decode()
    metrics = {family.name: {s.labels["version"]: s.value for s in family.samples}
               for family in text_string_to_metric_families(text)
               if family.name.endswith(("load_seconds", "warmup_seconds"))}
    warmup = metrics[":tensorflow:serving:model_warmup_seconds"]
    load = metrics[":tensorflow:serving:model_load_seconds"]
    assert warmup["1"] == 0 < warmup["2"] < load["2"]
