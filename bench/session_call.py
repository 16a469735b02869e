"""Per-call cost of the server's run path (the session-based loader, Session::Run
with the SignatureDef's feeds and fetches) against calling the signature of
`tf.saved_model.load` (the eager path the server used before), in one run.

    python bench/session_call.py [--repository model_repository] [--calls 2000]

Times, on one Fashion-MNIST PNG and the newest classifier (a quick one is trained
into artifacts/bench/ when the repository has none), and on a graph that only adds
(where the call's own cost is all there is): calls per second of each path at batch
1, the best of three, and their ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# isort: off
from workload import classifier_root, sample_pngs  # quiets TF logs
# isort: on
import numpy as np
import tensorflow as tf

from serving.servable import load_servable

REPEATS = 3


class AddOne(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
    def add(self, x):
        return {"y": x + 1.0}


def best_rate(call, calls: int) -> float:
    """The best calls/s of `call()` over REPEATS timed loops, after a warm-up."""
    for _ in range(20):
        call()
    best = 0.0
    for _ in range(REPEATS):
        started = time.perf_counter()
        for _ in range(calls):
            call()
        best = max(best, calls / (time.perf_counter() - started))
    return best


def compare(path: Path, inputs: dict[str, np.ndarray], calls: int) -> tuple[float, float]:
    """Calls/s of the session path and of the eager signature, on `serving_default`."""
    servable = load_servable("bench", 1, path)
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    tensors = {key: tf.constant(value) for key, value in inputs.items()}
    session = best_rate(lambda: servable.run("serving_default", inputs), calls)
    eager = best_rate(lambda: signature(**{k: tf.constant(v) for k, v in inputs.items()}),
                      calls)
    assert set(servable.run("serving_default", inputs)) == set(signature(**tensors))
    return session, eager


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    root, version = classifier_root(args.repository)
    png = sample_pngs(1)[0]
    rows = {"classifier, one PNG": compare(
        root / str(version), {"image_bytes": np.array([png], dtype=object)}, args.calls)}
    with tempfile.TemporaryDirectory() as scratch:
        module = AddOne()
        tf.saved_model.save(module, scratch, signatures={"serving_default": module.add})
        rows["x + 1, one float"] = compare(
            Path(scratch), {"x": np.ones((1, 1), np.float32)}, args.calls)
    print(f"{'graph':22} {'session calls/s':>15} {'eager calls/s':>14} {'ratio':>6} "
          f"{'session us':>10} {'eager us':>9}")
    for name, (session, eager) in rows.items():
        print(f"{name:22} {session:15.1f} {eager:14.1f} {session / eager:6.2f} "
              f"{1e6 / session:10.1f} {1e6 / eager:9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
