"""A peer for bench/grpc_load.py: the classifier SavedModel behind KServe's Python
model server, answering the Open Inference Protocol (v2) gRPC ModelInfer.

    VENV/bin/python bench/kserve_peer.py serve --model-dir DIR --grpc-port N --http-port M
    VENV/bin/python bench/kserve_peer.py request --image IMAGE.png --out body.bin

Runs in a virtual environment of its own with `kserve` and the same TensorFlow
release (pip install kserve tensorflow-cpu==2.21.0), never in the project's .venv:
bench/grpc_load.py starts it with --kserve-python. `serve` registers one
`kserve.Model` whose predict calls the SavedModel's serving_default signature on
the BYTES input `image_bytes`, exactly the in-process call of the other
benchmarks; `request` writes the gRPC-framed ModelInferRequest h2load sends.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

MODEL_NAME = "classifier"
INFER_METHOD = "/inference.GRPCInferenceService/ModelInfer"
_V2_TYPES = {"float32": "FP32", "int32": "INT32", "int64": "INT64", "object": "BYTES"}


def _kserve():
    """kserve, or an exit naming what to install where."""
    try:
        import kserve
    except ImportError as e:
        sys.exit(f"kserve is not importable by {sys.executable} ({e}); create its own venv: "
                 "python3 -m venv /work/venv-kserve && /work/venv-kserve/bin/pip install "
                 "kserve tensorflow-cpu==2.21.0")
    return kserve


def framed(message: bytes) -> bytes:
    """A gRPC message on the wire: not compressed, 4-byte big-endian length, bytes."""
    return b"\0" + len(message).to_bytes(4, "big") + message


def infer_request(png: bytes) -> bytes:
    """A serialized ModelInferRequest of one image for the classifier."""
    _kserve()
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb

    request = pb.ModelInferRequest(model_name=MODEL_NAME)
    image = request.inputs.add(name="image_bytes", datatype="BYTES", shape=[1])
    image.contents.bytes_contents.append(png)
    return request.SerializeToString()


def savedmodel_classifier(model_dir: str):
    """A kserve.Model running the SavedModel's serving_default on each request."""
    kserve = _kserve()
    import tensorflow as tf
    from kserve import InferOutput, InferRequest, InferResponse

    class SavedModelClassifier(kserve.Model):
        def load(self) -> bool:
            self.signature = tf.saved_model.load(model_dir).signatures["serving_default"]
            self.ready = True
            return self.ready

        def predict(self, payload: InferRequest, headers=None) -> InferResponse:
            images = payload.inputs[0].as_numpy()  # (batch,) of encoded bytes
            outputs = self.signature(image_bytes=tf.constant(list(images.reshape(-1))))
            answers = []
            for name, value in outputs.items():
                array = value.numpy()
                answer = InferOutput(name=name, shape=list(array.shape),
                                     datatype=_V2_TYPES[str(array.dtype)])
                answer.set_data_from_numpy(array, binary_data=False)
                answers.append(answer)
            return InferResponse(response_id=payload.id, model_name=self.name,
                                 infer_outputs=answers)

    model = SavedModelClassifier(MODEL_NAME)
    model.load()
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the SavedModel with KServe")
    serve.add_argument("--model-dir", required=True, help="a SavedModel version folder")
    serve.add_argument("--grpc-port", type=int, required=True)
    serve.add_argument("--http-port", type=int, required=True)
    request = commands.add_parser("request", help="write a framed ModelInferRequest")
    request.add_argument("--image", required=True)
    request.add_argument("--out", required=True)
    args, _ = parser.parse_known_args()
    if args.command == "request":
        with open(args.image, "rb") as image, open(args.out, "wb") as out:
            out.write(framed(infer_request(image.read())))
        return 0
    sys.argv = sys.argv[:1]  # kserve parses the command line when imported
    kserve = _kserve()
    model = savedmodel_classifier(args.model_dir)
    server = kserve.ModelServer(http_port=args.http_port, grpc_port=args.grpc_port,
                                workers=1, enable_latency_logging=False)
    # No log line per request (KServe's gRPC interceptor writes one at INFO), as
    # `tfstack serve` writes none without --access_log.
    logging.getLogger("kserve").setLevel(logging.WARNING)
    server.start([model])
    return 0


if __name__ == "__main__":
    sys.exit(main())
