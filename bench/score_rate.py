"""`tfstack score classifier` on a folder of real images, over the in-process batched rate.

    python bench/score_rate.py [--repository model_repository] [--images 3000]

Writes N Fashion-MNIST test images as PNG files, serves the newest classifier with
`tfstack serve`, and measures in one run: the best images/s of the serving_default
signature called in this process on whole batches of the same PNG bytes, and the
items/s of the batch-scoring client (reading the files, batching, gRPC, writing
JSONL). Prints both and their ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

# isort: off
from workload import (  # quiets TF logs
    best_batched_rate,
    model_root,
    in_process_signature,
    sample_pngs,
)
# isort: on
from clients.scoring import ScoreConfig, score
from serving.launcher import ServerProcess


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=3)
    args = parser.parse_args()
    root, version = model_root(args.repository)
    images = (sample_pngs(min(args.images, 10_000)) * (args.images // 10_000 + 1))[:args.images]
    in_process, best = best_batched_rate(in_process_signature(root, version), images)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "photos"
        folder.mkdir()
        for i, png in enumerate(images):
            (folder / f"{i:05d}.png").write_bytes(png)
        with ServerProcess("--model_name=classifier", f"--model_base_path={root}") as server:
            summary = score(ScoreConfig(
                "classifier", str(folder), str(Path(scratch) / "out.jsonl"),
                server=server.target, batch_size=args.batch_size,
                concurrency=args.concurrency, progress=False))
    print(f"in-process batched {in_process:8.1f} images/s (best batch size {best})")
    print(f"tfstack score      {summary.items_per_second:8.1f} items/s "
          f"(batch {args.batch_size}, {args.concurrency} in flight, {summary.errors} errors)")
    print(f"ratio score/in-proc {summary.items_per_second / in_process:7.2f}")
    print(f"request latency    p50 {summary.percentile_ms(50):.1f} ms, "
          f"p99 {summary.percentile_ms(99):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
