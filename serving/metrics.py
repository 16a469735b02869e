"""Prometheus metrics of the server, scraped from the REST port at the path the
monitoring config names (TF Serving's `/monitoring/prometheus/metrics`)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from serving.config_protos import MonitoringConfig, read_text_proto
from serving.repository import ModelRepository

DEFAULT_PATH = "/monitoring/prometheus/metrics"
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                    5, 10, 30)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def prometheus_path(monitoring_config_file: str | Path | None) -> str | None:
    """The scrape path if the monitoring config enables Prometheus, else None."""
    if not monitoring_config_file:
        return None
    prometheus = read_text_proto(monitoring_config_file, MonitoringConfig).prometheus_config
    return (prometheus.path or DEFAULT_PATH) if prometheus.enable else None


class ServingMetrics:
    """Request counts and latency by model, version, signature and status; batch
    sizes; batch queue depth; requests in flight; and each version's state and load
    time."""

    def __init__(self, repository: ModelRepository):
        self.registry = CollectorRegistry()
        labels = ["model_name", "version", "signature", "API"]
        self.requests = Counter(":tensorflow:serving:request_count", "Requests answered",
                                [*labels, "status"], registry=self.registry)
        self.latency = Histogram(":tensorflow:serving:request_latency_seconds",
                                 "Time from request to answer", labels,
                                 buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram(":tensorflow:serving:batch_size", "Rows per batch run",
                                    ["model_name", "version", "signature"],
                                    buckets=_BATCH_BUCKETS, registry=self.registry)
        self.queue_depth = Gauge(":tensorflow:serving:batch_queue_depth",
                                 "Batches formed and waiting for a thread",
                                 registry=self.registry)
        self.in_flight = Gauge(":tensorflow:serving:requests_in_flight",
                               "Requests admitted and not yet answered (queued or running)",
                               registry=self.registry)
        self.request_logs = Counter(":tensorflow:serving:request_log_count",
                                    "Sampled requests by what became of their log record: "
                                    "written, dropped (queue full) or failed (the writer)",
                                    ["model_name", "outcome"], registry=self.registry)
        self.registry.register(_ModelStates(repository))

    def observe_request(self, model: str, version: str, signature: str, api: str,
                        status: str, seconds: float) -> None:
        self.requests.labels(model, version, signature, api, status).inc()
        self.latency.labels(model, version, signature, api).observe(seconds)

    def observe_batch(self, servable, signature: str, size: int) -> None:
        self.batch_size.labels(servable.name, str(servable.version), signature).observe(size)

    def count_request_log(self, model: str, outcome: str) -> None:
        self.request_logs.labels(model, outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ModelStates:
    """Reads version states and load times from the repository at scrape time."""

    def __init__(self, repository: ModelRepository):
        self._repository = repository

    def collect(self):
        state = GaugeMetricFamily(":tensorflow:serving:model_version_state",
                                  "1 for the state each version is in",
                                  labels=["model_name", "version", "state"])
        load = GaugeMetricFamily(":tensorflow:serving:model_load_seconds",
                                 "Seconds the version took to load, warm-up included",
                                 labels=["model_name", "version"])
        warmup = GaugeMetricFamily(":tensorflow:serving:model_warmup_seconds",
                                   "Seconds the version took to replay its warm-up records, "
                                   "before it became AVAILABLE",
                                   labels=["model_name", "version"])
        for name in self._repository.model_names:
            for version in self._repository.states(name):
                state.add_metric([name, str(version.version), version.state], 1)
            for servable in self._repository.loaded(name):
                load.add_metric([name, str(servable.version)], servable.load_seconds)
                warmup.add_metric([name, str(servable.version)], servable.warmup_seconds)
        yield state
        yield load
        yield warmup
