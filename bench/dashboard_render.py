"""The Grafana dashboard's panels (deploy/grafana/dashboards/tfstack.json), drawn with
matplotlib from a real run, for docs/ where Grafana cannot run: `tfstack serve` with
`make up`'s batching and request logging, driven by h2load (Predict of Fashion-MNIST
PNGs at 1, 16 and 64 streams, and a few requests for a model it does not serve), its
Prometheus endpoint scraped every second, each panel's query computed from the scrapes.

    python bench/dashboard_render.py [--seconds 60] [--output docs/dashboard.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

# isort: off
from workload import classifier_root, sample_pngs
# isort: on
import grpc
import matplotlib
import numpy as np
import requests
from grpc_load import MAKE_UP_BATCHING, PREDICT, SERVING, answer_of, framed, h2load
from grpc_load import predict_request as predict_body
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.launcher
from tests.launcher import ServerProcess, free_port  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

M = ":tensorflow:serving:"


def scrape(url: str) -> dict[tuple, float]:
    text = requests.get(url, timeout=30).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def series(samples: list[tuple[float, dict]], name: str, **match) -> tuple:
    """Times and the summed value of every sample of `name` whose labels match."""
    times, values = [], []
    for at, scraped in samples:
        total = sum(v for (n, labels), v in scraped.items() if n == name and all(
            dict(labels).get(k) == want for k, want in match.items()))
        times.append(at)
        values.append(total)
    return np.array(times), np.array(values)


def rate(times: np.ndarray, values: np.ndarray) -> tuple:
    return times[1:], np.diff(values) / np.maximum(np.diff(times), 1e-9)


def quantile(samples: list[tuple[float, dict]], name: str, q: float) -> tuple:
    """histogram_quantile(q, rate(name_bucket[1s])) over the scrapes."""
    times, out = [], []
    for (_, a), (t1, b) in zip(samples, samples[1:], strict=False):
        buckets = sorted((float(dict(labels)["le"]), v - a.get((n, labels), 0.0))
                         for (n, labels), v in b.items() if n == f"{name}_bucket")
        merged: dict[float, float] = {}
        for le, count in buckets:
            merged[le] = merged.get(le, 0.0) + count
        bounds, counts = zip(*sorted(merged.items()), strict=True) if merged else ((), ())
        if not counts or counts[-1] <= 0:
            continue
        target, previous, low = q * counts[-1], 0.0, 0.0
        for le, count in zip(bounds, counts, strict=True):
            if count >= target:
                high = le if np.isfinite(le) else low
                out.append(low + (high - low) * (target - previous) / max(count - previous, 1e-9))
                times.append(t1)
                break
            previous, low = count, le
    return np.array(times), np.array(out)


def drive(port: int, body: Path, pid: int, seconds: float, stop: threading.Event) -> None:
    """Load in phases: sequential, 16 streams, 64 streams, then sequential again."""
    phases = [(1, 0.2), (16, 0.3), (64, 0.3), (1, 0.2)]
    for streams, share in phases:
        end = time.monotonic() + seconds * share
        while time.monotonic() < end and not stop.is_set():
            h2load(port, PREDICT, body, streams, 20 * streams, pid)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--output", default="docs/dashboard.png")
    args = parser.parse_args()
    root, _ = classifier_root(args.repository)
    with tempfile.TemporaryDirectory() as scratch:
        body = Path(scratch) / "predict.bin"
        body.write_bytes(framed(predict_body(sample_pngs(1)[0])))
        config = Path(scratch) / "models.config"
        config.write_text(
            f'model_config_list {{ config {{ name: "classifier" base_path: "{root.resolve()}" '
            'model_platform: "tensorflow" logging_config { log_collector_config { '
            f'type: "tfrecord" filename_prefix: "{scratch}/logs/classifier" }} '
            'sampling_config { sampling_rate: 0.05 } } } }')
        with ServerProcess(f"--model_config_file={config}", f"--rest_api_port={free_port()}",
                           f"--monitoring_config_file={SERVING}/monitoring.config",
                           *MAKE_UP_BATCHING) as server:
            answer_of(server.target, PREDICT, body.read_bytes()[5:])
            url, samples, stop = f"{server.rest_url}/monitoring/prometheus/metrics", [], \
                threading.Event()
            port = int(server.target.rsplit(":", 1)[1])
            load = threading.Thread(target=drive, args=(port, body, server.process.pid,
                                                        args.seconds, stop))
            started = time.monotonic()
            load.start()
            with grpc.insecure_channel(server.target) as channel:
                unknown = channel.unary_unary(PREDICT)
                while load.is_alive():
                    samples.append((time.monotonic() - started, scrape(url)))
                    if len(samples) % 5 == 0:  # some errors for the error panel
                        try:
                            unknown(b"\n\x06\n\x04nope", timeout=5)
                        except grpc.RpcError:
                            pass
                    time.sleep(1.0)
            stop.set()
            load.join()
    render(samples, Path(args.output))
    print(f"{args.output}: {len(samples)} scrapes over {samples[-1][0]:.0f} s")
    return 0


def render(samples: list[tuple[float, dict]], output: Path) -> None:
    fig, axes = plt.subplots(3, 3, figsize=(15, 10), constrained_layout=True)
    fig.suptitle("tfstack serving (deploy/grafana/dashboards/tfstack.json), from a real run")
    ok = rate(*series(samples, f"{M}request_count_total", status="OK"))
    axes[0, 0].plot(*ok)
    axes[0, 0].set(title="Request rate", ylabel="req/s")
    errors = rate(*series(samples, f"{M}request_count_total", status="NOT_FOUND"))
    axes[0, 1].plot(*errors, color="tab:red", label="NOT_FOUND")
    axes[0, 1].set(title="Error rate by code", ylabel="req/s")
    axes[0, 1].legend()
    for q, style in ((0.5, "-"), (0.99, "--")):
        axes[0, 2].plot(*[a * (1000 if i else 1) for i, a in enumerate(
            quantile(samples, f"{M}request_latency_seconds", q))], style, label=f"p{q * 100:g}")
    axes[0, 2].set(title="Latency p50 / p99", ylabel="ms")
    axes[0, 2].legend()
    last = samples[-1][1]
    buckets = sorted((float(dict(labels)["le"]), v) for (n, labels), v in last.items()
                     if n == f"{M}batch_size_bucket")
    bounds = [b for b, _ in buckets if np.isfinite(b)]
    counts = np.diff([0.0] + [v for b, v in buckets if np.isfinite(b)])
    axes[1, 0].bar([str(int(b)) for b in bounds], counts)
    axes[1, 0].set(title="Batch size (batches, by upper bound)", xlabel="rows")
    axes[1, 1].plot(*series(samples, f"{M}batch_queue_depth"))
    axes[1, 1].set(title="Batch queue depth", ylabel="batches")
    axes[1, 2].plot(*series(samples, f"{M}requests_in_flight"))
    axes[1, 2].set(title="Requests in flight")
    states = [f"{dict(labels)['model_name']} v{dict(labels)['version']} "
              f"{dict(labels)['state']}" for (n, labels), v in last.items()
              if n == f"{M}model_version_state" and v]
    axes[2, 0].axis("off")
    axes[2, 0].table(cellText=[[s] for s in states] or [["none"]], colLabels=["Version states"],
                     loc="center")
    loads = {f"v{dict(labels)['version']}": v for (n, labels), v in last.items()
             if n == f"{M}model_load_seconds"}
    warmups = {f"v{dict(labels)['version']}": v for (n, labels), v in last.items()
               if n == f"{M}model_warmup_seconds"}
    axes[2, 1].barh([f"load {k}" for k in loads] + [f"warm-up {k}" for k in warmups],
                    list(loads.values()) + list(warmups.values()))
    axes[2, 1].set(title="Load and warm-up time", xlabel="s")
    axes[2, 2].plot(*rate(*series(samples, f"{M}request_log_count_total",
                                  outcome="written")), label="written")
    axes[2, 2].set(title="Request log records (5% sampled)", ylabel="records/s")
    axes[2, 2].legend()
    for ax in axes.flat[:3]:
        ax.set_xlabel("s")
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=80)


if __name__ == "__main__":
    sys.exit(main())
