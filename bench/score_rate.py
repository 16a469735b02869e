"""`tfstack score classifier` on a folder of real images, locally and as a Beam
pipeline, over the in-process batched rate.

    python bench/score_rate.py [--repository model_repository] [--images 3000] [--no-beam]

Writes N Fashion-MNIST test images as PNG files, serves the newest classifier with
`tfstack serve` (a quick one trained into artifacts/bench/ when the repository has
none), and measures in one run: the best images/s of the serving_default signature
called in this process on whole batches of the same PNG bytes, the items/s of the
local batch-scoring client (reading the files, batching, gRPC, writing JSONL), and
those of `tfstack score --runner DirectRunner` with two workers against the same
server, as processes (`--direct_running_mode=multi_processing`, as a cluster's
workers are) and as threads of this process (`multi_threading`). Beam's rates are
wall time from submitting the job to its finalised output, the start-up included;
the rate past the start-up (the same pipeline timed on 20 of the images) is beside
each. Prints the rates and their ratios.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

# isort: off
from workload import (  # quiets TF logs
    best_batched_rate,
    classifier_root,
    in_process_signature,
    sample_pngs,
)
# isort: on
from clients.scoring.local import ScoreConfig, score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.launcher
from tests.launcher import ServerProcess  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=3)
    parser.add_argument("--beam-workers", type=int, default=2)
    parser.add_argument("--no-beam", dest="beam", action="store_false",
                        help="skip the Beam pipeline (it needs the beam extra)")
    args = parser.parse_args()
    root, version = classifier_root(args.repository)
    images = (sample_pngs(min(args.images, 10_000)) * (args.images // 10_000 + 1))[:args.images]
    in_process, best = best_batched_rate(in_process_signature(root, version), images)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "photos"
        folder.mkdir()
        for i, png in enumerate(images):
            (folder / f"{i:05d}.png").write_bytes(png)
        flags = ("--model_name=classifier", f"--model_base_path={root.resolve()}")
        with ServerProcess(*flags) as server:
            config = ScoreConfig("classifier", str(folder), str(Path(scratch) / "out.jsonl"),
                                 server=server.target, batch_size=args.batch_size,
                                 concurrency=args.concurrency, progress=False)
            summary = score(config)
            beams = beam_rate(config, Path(scratch), args) if args.beam else None
    print(f"in-process batched {in_process:8.1f} images/s (best batch size {best})")
    print(f"tfstack score      {summary.items_per_second:8.1f} items/s "
          f"(batch {args.batch_size}, {args.concurrency} in flight, {summary.errors} errors, "
          f"{summary.seconds:.1f} s)")
    print(f"ratio score/in-proc {summary.items_per_second / in_process:7.2f}")
    for mode, (beam, startup) in (beams or {}).items():
        steady = (beam.inputs - 20) / max(beam.seconds - startup, 1e-9)
        print(f"beam {mode:16s} {beam.items_per_second:8.1f} items/s "
              f"({args.beam_workers} workers, {beam.errors} errors, {beam.seconds:.1f} s; "
              f"{steady:.1f} items/s past its {startup:.1f} s start-up)")
        print(f"  ratio beam/score  {beam.items_per_second / summary.items_per_second:7.2f} "
              f"({steady / summary.items_per_second:.2f} past the start-up); "
              f"beam/in-proc {beam.items_per_second / in_process:.2f}")
    print(f"request latency    p50 {summary.percentile_ms(50):.1f} ms, "
          f"p99 {summary.percentile_ms(99):.1f} ms")
    return 0


def beam_rate(config: ScoreConfig, scratch: Path, args) -> dict | None:
    """For each DirectRunner running mode: the Beam pipeline's summary on the same
    inputs and server, and the seconds the same pipeline takes on 20 of them (its
    start-up); None without Beam."""
    try:
        from clients.scoring.beam import run_pipeline
        from clients.scoring.config import BeamConfig, ScoreJob
    except ModuleNotFoundError:
        print("beam DirectRunner  skipped: pip install -e '.[beam]'", file=sys.stderr)
        return None
    few = scratch / "few"
    few.mkdir()
    for path in sorted(Path(config.input).iterdir())[:20]:
        (few / path.name).write_bytes(path.read_bytes())
    rates = {}
    for mode in ("multi_processing", "multi_threading"):
        shared = {f.name: getattr(config, f.name) for f in dataclasses.fields(ScoreJob)}
        beam_config = BeamConfig(**{**shared, "pipeline_args": (
            f"--direct_num_workers={args.beam_workers}", f"--direct_running_mode={mode}")})
        startup = run_pipeline(dataclasses.replace(
            beam_config, input=str(few), output=str(scratch / f"few-{mode}.jsonl")))
        summary = run_pipeline(dataclasses.replace(
            beam_config, output=str(scratch / f"beam-{mode}.jsonl")))
        rates[mode] = summary, startup.seconds
    return rates

if __name__ == "__main__":
    sys.exit(main())
