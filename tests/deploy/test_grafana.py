"""The Grafana dashboard of compose's monitoring profile: it parses, Grafana provisions
it from the mounted folders, and every metric it queries is one the server exports
(scraped from a real server with batching and request logging on)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import grpc
import numpy as np
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.metrics import DEFAULT_PATH
from tests.launcher import ServerProcess, free_port
from tests.messages import predict_request
from tests.serving.conftest import write_doubler

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = json.loads((ROOT / "deploy/grafana/dashboards/tfstack.json").read_text())
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
METRIC = re.compile(r":tensorflow:serving:[a-z_]+")


def queried() -> set[str]:
    """The series names the dashboard's queries use (`_total`, `_bucket` included)."""
    return {name for panel in DASHBOARD["panels"] for target in panel["targets"]
            for name in METRIC.findall(target["expr"])}


def test_the_dashboard_is_provisioned_in_the_monitoring_profile():
    grafana = COMPOSE["services"]["grafana"]
    assert grafana["profiles"] == ["monitoring"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in grafana["volumes"])
    assert mounts["./deploy/grafana/dashboards"] == "/var/lib/grafana/dashboards"
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/tfstack.yml")
                              .read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    for host in mounts:
        assert (ROOT / host).is_dir()
    assert "jaeger" in COMPOSE["services"] and COMPOSE["services"]["jaeger"]["profiles"] == [
        "monitoring"]
    titles = {panel["title"] for panel in DASHBOARD["panels"]}
    assert {"Request rate", "Error rate by code", "Latency p50 / p99", "Batch size",
            "Batch queue depth", "Requests in flight", "Version states"} <= titles
    assert len({panel["id"] for panel in DASHBOARD["panels"]}) == len(DASHBOARD["panels"])


def documented() -> set[str]:
    """The metrics docs/observability.md's table names (first column, no namespace)."""
    text = (ROOT / "docs/observability.md").read_text()
    return set(re.findall(r"^\| `([a-z_]+)` \|", text, re.MULTILINE))


def test_every_metric_the_dashboard_queries_is_exported_and_documented(tmp_path):
    write_doubler(tmp_path / "m" / "1")
    config = tmp_path / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "m" base_path: "{tmp_path / "m"}" '
        'model_platform: "tensorflow" logging_config { log_collector_config { '
        f'type: "tfrecord" filename_prefix: "{tmp_path / "logs" / "m"}" }} '
        'sampling_config { sampling_rate: 1.0 } } } }')
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text("prometheus_config { enable: true }")
    with ServerProcess(f"--model_config_file={config}", f"--rest_api_port={free_port()}",
                       f"--monitoring_config_file={monitoring}", "--enable_batching") as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(server.target))
        stub.Predict(predict_request("m", {"x": np.ones((1, 2), np.float32)}), timeout=30)
        exported, deadline = set(), time.monotonic() + 60
        while ":tensorflow:serving:request_log_count_total" not in exported:  # written
            assert time.monotonic() < deadline  # after the answer, by the log's thread
            time.sleep(0.05)
            text = requests.get(f"{server.rest_url}{DEFAULT_PATH}", timeout=30).text
            families = list(text_string_to_metric_families(text))
            exported = {sample.name for family in families for sample in family.samples}
    assert queried() <= exported, queried() - exported
    ours = {family.name.removeprefix(":tensorflow:serving:") for family in families
            if not family.name.endswith("_created")}  # the client library's timestamps
    assert ours == documented(), ours ^ documented()
