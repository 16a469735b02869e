"""Concurrent clients with server-side batching, over the best in-process batched rate.

    python bench/batching_rate.py [--repository model_repository] [--clients 64]

Measures in one run, on the same PNG images of the newest classifier: the best
images/s of the serving_default signature called in this process on whole batches
(sizes 8..64), then `tfstack serve --enable_batching` answering CLIENTS concurrent
callers that each send one image per Predict. Prints both rates, their ratio, the
callers' p50/p99 latency and the mean batch the server formed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

# isort: off
from workload import (  # quiets TF logs
    best_batched_rate,
    model_root,
    in_process_signature,
    sample_pngs,
)
# isort: on
import grpc
import numpy as np
import requests
import tensorflow as tf
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.launcher
from tests.launcher import ServerProcess, free_port  # noqa: E402


async def concurrent_callers(target: str, images: list[bytes], clients: int) -> list[float]:
    """Each caller sends one image per request until all are sent; returns latencies."""
    latencies: list[float] = []
    queue = iter(range(len(images)))
    async with grpc.aio.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        async def caller() -> None:
            for index in queue:
                request = predict_pb2.PredictRequest()
                request.model_spec.name = "classifier"
                request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([images[index]]))
                started = time.perf_counter()
                await stub.Predict(request, timeout=60)
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(caller() for _ in range(clients)))
    return latencies


def mean_batch(rest_url: str) -> float:
    text = requests.get(rest_url + "/monitoring/prometheus/metrics", timeout=30).text
    for family in text_string_to_metric_families(text):
        if family.name == ":tensorflow:serving:batch_size":
            totals = {s.name.rsplit("_", 1)[-1]: s.value for s in family.samples
                      if "le" not in s.labels}
            return totals["sum"] / max(totals["count"], 1)
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--batch-timeout-micros", type=int, default=2000)
    parser.add_argument("--batch-threads", type=int, default=2)
    args = parser.parse_args()
    root, version = model_root(args.repository)
    images = (sample_pngs(1000) * (args.requests // 1000 + 1))[:args.requests]
    in_process, best_size = best_batched_rate(in_process_signature(root, version), images)

    with tempfile.TemporaryDirectory() as scratch:
        batching = Path(scratch) / "batching.config"
        batching.write_text(
            f"max_batch_size {{ value: {args.clients} }}\n"
            f"batch_timeout_micros {{ value: {args.batch_timeout_micros} }}\n"
            f"num_batch_threads {{ value: {args.batch_threads} }}\n"
            f"max_enqueued_batches {{ value: {args.clients} }}\n")
        monitoring = Path(scratch) / "monitoring.config"
        monitoring.write_text("prometheus_config { enable: true }\n")
        with ServerProcess("--model_name=classifier", f"--model_base_path={root}",
                           "--enable_batching", f"--batching_parameters_file={batching}",
                           f"--rest_api_port={free_port()}",
                           f"--monitoring_config_file={monitoring}") as server:
            asyncio.run(concurrent_callers(server.target, images[:200], args.clients))
            started = time.perf_counter()
            latencies = asyncio.run(concurrent_callers(server.target, images, args.clients))
            served = len(latencies) / (time.perf_counter() - started)
            batch = mean_batch(server.rest_url)

    p50, p99 = np.percentile(latencies, [50, 99]) * 1000
    print(f"in-process batched {in_process:8.1f} images/s (best batch size {best_size})")
    print(f"server, {args.clients} clients {served:8.1f} requests/s (one image each)")
    print(f"ratio server/in-proc {served / in_process:6.2f}")
    print(f"latency            p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"mean batch formed  {batch:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
