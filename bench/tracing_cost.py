"""What OpenTelemetry tracing costs: `tfstack serve` with `make up`'s batching flags,
without tracing, with every request traced and with 1% of traces sampled
(OTEL_TRACES_EXPORTER=otlp, exported to a collector this script runs), Predict of one
Fashion-MNIST PNG under h2load at 64 streams and sequentially, in one run.

    python bench/tracing_cost.py [--repository model_repository] [--seconds 3] [--rounds 3]

The three settings take turns, `--rounds` times, so that a slow spell of the machine
falls on all of them alike. Prints each setting's median req/s, p50 latency and server
CPU per request, the ratios to tracing off, the spread of those ratios over the rounds,
and how many spans the collector received.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

# isort: off
from workload import classifier_root, sample_pngs
# isort: on
from grpc_load import (
    MAKE_UP_BATCHING,
    PREDICT,
    SERVING,
    STREAMS,
    answer_of,
    drive,
    framed,
    predict_request,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.launcher
from tests.launcher import ServerProcess, free_port  # noqa: E402
from tests.otlp_collector import Collector  # noqa: E402


def measure(root: Path, body: Path, seconds: float, env: dict[str, str]) -> dict:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        with ServerProcess("--model_name=classifier", f"--model_base_path={root}",
                           f"--rest_api_port={free_port()}",
                           f"--monitoring_config_file={SERVING}/monitoring.config",
                           *MAKE_UP_BATCHING) as server:
            answer_of(server.target, PREDICT, body.read_bytes()[5:])
            port = int(server.target.rsplit(":", 1)[1])
            return {streams: drive(port, PREDICT, body, server.process.pid, seconds, streams)
                    for streams in STREAMS}
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--seconds", type=float, default=3.0, help="per measured h2load run")
    parser.add_argument("--rounds", type=int, default=3, help="turns of the three settings")
    args = parser.parse_args()
    root, _ = classifier_root(args.repository)
    root = root.resolve()
    with tempfile.TemporaryDirectory() as scratch:
        body = Path(scratch) / "predict.bin"
        body.write_bytes(framed(predict_request(sample_pngs(1)[0])))
        with Collector() as collector:
            rounds = [run_all(root, body, args.seconds, collector)
                      for _ in range(args.rounds)]
    report(rounds)
    traced = sum(spans for _, spans in rounds)
    print(f"spans received: {traced} with every request traced, "
          f"{len(collector.spans) - traced} at 1%")
    return 0


def run_all(root: Path, body: Path, seconds: float, collector: Collector):
    """One round: the loads with tracing off, every request traced and 1% sampled
    (by setting), and the spans the fully traced run sent."""
    otlp = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint}
    runs = {"off": measure(root, body, seconds, {"OTEL_TRACES_EXPORTER": "none"})}
    before = len(collector.spans)
    runs["every request traced"] = measure(root, body, seconds, otlp)
    traced_spans = len(collector.spans) - before
    runs["1% sampled"] = measure(root, body, seconds, {
        **otlp, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.01"})
    return runs, traced_spans


def report(rounds: list[tuple[dict, int]]) -> None:
    """Medians over the rounds; `/ off` is the median of each round's own ratio, and
    its spread the lowest and highest of them."""
    print(f"{'tracing':>22} {'streams':>8} {'req/s':>7} {'/ off':>6} {'spread':>11} "
          f"{'p50 ms':>7} {'CPU ms/req':>11} {'CPU / off':>10}")
    for name in rounds[0][0]:
        for streams in STREAMS:
            loads = [runs[name][streams] for runs, _ in rounds]
            ratios = [runs[name][streams].rate / runs["off"][streams].rate
                      for runs, _ in rounds]
            cpu = [runs[name][streams].cpu_ms_per_request
                   / runs["off"][streams].cpu_ms_per_request for runs, _ in rounds]
            median = statistics.median
            print(f"{name:>22} {streams:>8} {median(x.rate for x in loads):>7.0f} "
                  f"{median(ratios):>6.2f} {min(ratios):>5.2f}-{max(ratios):<5.2f} "
                  f"{median(x.p50_ms for x in loads):>7.2f} "
                  f"{median(x.cpu_ms_per_request for x in loads):>11.2f} "
                  f"{median(cpu):>10.2f}")


if __name__ == "__main__":
    sys.exit(main())
