"""Single-request gRPC Predict rate over the in-process signature call rate.

    python bench/predict_rate.py [--repository model_repository] [--requests 300]

Serves the newest classifier version with `tfstack serve` (a child process on a
free port), then times, in one run and on the same PNG images: N sequential
one-image Predict calls through TF Serving's official stub, and N calls of the
same signature on the SavedModel loaded in this process. Prints both rates and
their ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import grpc  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc  # noqa: E402

from serving.launcher import ServerProcess  # noqa: E402


def sample_pngs(count: int) -> list[bytes]:
    """Real Fashion-MNIST test images, PNG-encoded."""
    from models.vision import fashion_mnist

    _, (images, _) = fashion_mnist.load()
    return [tf.io.encode_png(image).numpy() for image in images[:count]]


def rate(call, items: list, warmup: int = 20) -> float:
    for item in items[:warmup]:
        call(item)
    started = time.perf_counter()
    for item in items:
        call(item)
    return len(items) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    model_root = Path(args.repository) / "classifier"
    versions = sorted(int(p.name) for p in model_root.glob("[0-9]*"))
    if not versions:
        print(f"no classifier version in {model_root}; run `make up` first", file=sys.stderr)
        return 1
    images = sample_pngs(args.requests)

    signature = tf.saved_model.load(str(model_root / str(versions[-1]))).signatures[
        "serving_default"]
    in_process = rate(lambda png: signature(image_bytes=tf.constant([png])), images)

    with ServerProcess("--model_name=classifier", f"--model_base_path={model_root}") as server:
        channel = grpc.insecure_channel(server.target)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def predict(png: bytes) -> None:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "classifier"
            request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([png]))
            stub.Predict(request, timeout=30)

        over_grpc = rate(predict, images)
        channel.close()

    print(f"requests           {len(images)} sequential, one image each, version {versions[-1]}")
    print(f"in-process         {in_process:8.1f} calls/s")
    print(f"gRPC Predict       {over_grpc:8.1f} requests/s")
    print(f"ratio gRPC/in-proc {over_grpc / in_process:8.2f}")
    print(f"added latency      {1000 * (1 / over_grpc - 1 / in_process):8.2f} ms/request")
    return 0 if np.isfinite(over_grpc) else 1


if __name__ == "__main__":
    sys.exit(main())
