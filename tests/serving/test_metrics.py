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

