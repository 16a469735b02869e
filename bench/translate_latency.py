"""Translation latency per sentence over gRPC, greedy vs beam, batch 1 vs 32, over in-process.

    python bench/translate_latency.py [--repository model_repository] [--requests N] [--warmup 3]

Measures in one run, on German sources of the held-out test split (the same batches
everywhere): the newest translator version loaded in this process with
`tf.saved_model.load`, its "greedy" and "serving_default" (beam search) signatures
called directly, then the same version served by `tfstack serve` and called through
`ServingClient.translate` (gRPC plus the client's decoding of the outputs). Each
configuration is N sequential calls (default 30 at batch 1, 10 at batch 32) after a
few untimed ones. Prints per configuration: p50/p90 ms per call, ms per sentence and
sentences/s over gRPC, in-process ms per sentence, and in-process/server throughput.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# isort: off
from workload import model_root  # quiets TensorFlow's logs
# isort: on
import numpy as np
import tensorflow as tf

from clients.client import ServingClient
from models.translation.corpus import load_pairs, split_pairs
from tests.launcher import ServerProcess

SIGNATURES = ("greedy", "serving_default")
BATCHES = {1: 30, 32: 10}  # batch size: default number of timed calls


def plan(requests: int | None, warmup: int) -> dict[int, list[list[str]]]:
    """Per batch size, warmup + N batches of test-split sources (cycling if needed)."""
    sources = [pair.source for pair in split_pairs(load_pairs())["test"]]
    plans = {}
    for size, default in BATCHES.items():
        count = (requests or default) + warmup
        flat = [sources[i % len(sources)] for i in range(count * size)]
        plans[size] = [flat[i:i + size] for i in range(0, len(flat), size)]
    return plans


def latencies(call, batches: list[list[str]], warmup: int) -> list[float]:
    """Seconds of each timed `call(batch)`, after `warmup` untimed calls."""
    for batch in batches[:warmup]:
        call(batch)
    timed = []
    for batch in batches[warmup:]:
        started = time.perf_counter()
        call(batch)
        timed.append(time.perf_counter() - started)
    return timed


def in_process(model_dir: Path, plans: dict, warmup: int) -> dict[tuple[str, int], list[float]]:
    """Latencies of each signature called directly on the loaded SavedModel."""
    loaded = tf.saved_model.load(str(model_dir))
    results = {}
    for name in SIGNATURES:
        signature = loaded.signatures[name]
        for size, batches in plans.items():
            results[name, size] = latencies(
                lambda batch, f=signature: f(text=tf.constant(batch)), batches, warmup)
    return results


def over_grpc(root: Path, plans: dict, warmup: int) -> dict[tuple[str, int], list[float]]:
    """Latencies of `ServingClient.translate` against `tfstack serve`."""
    results = {}
    with ServerProcess("--model_name=translator", f"--model_base_path={root}") as server:
        with ServingClient(server.target, deadline=300) as client:
            for name in SIGNATURES:
                for size, batches in plans.items():
                    results[name, size] = latencies(
                        lambda batch, g=name == "greedy": client.translate(batch, greedy=g),
                        batches, warmup)
    return results


def print_table(server: dict, local: dict) -> None:
    print(f"{'signature':16s} {'batch':>5s} {'calls':>5s} {'p50 ms':>8s} {'p90 ms':>8s} "
          f"{'ms/sent':>8s} {'sent/s':>8s} {'in-proc ms/sent':>15s} {'in-proc/server':>14s}")
    for (name, size), timed in server.items():
        p50, p90 = np.percentile(timed, [50, 90]) * 1000
        per_sentence = 1000 * sum(timed) / (len(timed) * size)
        local_per_sentence = 1000 * sum(local[name, size]) / (len(timed) * size)
        print(f"{name:16s} {size:5d} {len(timed):5d} {p50:8.1f} {p90:8.1f} "
              f"{per_sentence:8.2f} {1000 / per_sentence:8.1f} {local_per_sentence:15.2f} "
              f"{per_sentence / local_per_sentence:14.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--requests", type=int, default=None,
                        help="timed calls per configuration (default 30 at batch 1, 10 at 32)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls per configuration")
    args = parser.parse_args()
    root, version = model_root(args.repository, "translator")
    plans = plan(args.requests, args.warmup)
    local = in_process(root / str(version), plans, args.warmup)
    server = over_grpc(root, plans, args.warmup)
    print(f"translator version {version}, sequential calls, held-out test sources")
    print_table(server, local)
    return 0


if __name__ == "__main__":
    sys.exit(main())
