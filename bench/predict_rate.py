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
import sys
from pathlib import Path

# isort: off
from workload import model_root, in_process_signature, rate, sample_pngs  # quiets TF logs
# isort: on
import grpc
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.launcher
from tests.launcher import ServerProcess  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    root, version = model_root(args.repository)
    images = sample_pngs(args.requests)
    signature = in_process_signature(root, version)
    in_process = rate(lambda png: signature(image_bytes=tf.constant([png])), images)

    with ServerProcess("--model_name=classifier", f"--model_base_path={root}") as server:
        channel = grpc.insecure_channel(server.target)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def predict(png: bytes) -> None:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "classifier"
            request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([png]))
            stub.Predict(request, timeout=30)

        over_grpc = rate(predict, images)
        channel.close()

    print(f"requests           {len(images)} sequential, one image each, version {version}")
    print(f"in-process         {in_process:8.1f} calls/s")
    print(f"gRPC Predict       {over_grpc:8.1f} requests/s")
    print(f"ratio gRPC/in-proc {over_grpc / in_process:8.2f}")
    print(f"added latency      {1000 * (1 / over_grpc - 1 / in_process):8.2f} ms/request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
