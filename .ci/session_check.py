"""Loads SavedModels as TF Serving does and replays their warm-up records.

TF Serving loads a version with the session-based SavedModel loader (tags
`serve`) and, before it serves, runs each record of
`assets.extra/tf_serving_warmup_requests` against it. This does the same with
the `tensorflow` of the image's release, in the bare venv `make serving-tf`
builds: it imports only TensorFlow, protobuf, the standard library and the
TF-free `contract` package, not `tensorflow-serving-api`.

    .venv-tfserving/bin/python .ci/session_check.py VERSION_DIR [VERSION_DIR ...]

Prints one line per version that loads and replays its records; a version that
fails prints its path, the record and the error to stderr, and the exit status
is 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import tensorflow as tf
from tensorflow.core.framework import tensor_pb2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: contract/
from contract.defaults import MAX_WARMUP_RECORDS, WARMUP_PATH
from contract.endpoints import DEFAULT_SIGNATURE
from contract.protos import build_pool, message_class

# The few messages of tensorflow_serving/apis/{model,predict,prediction_log}.proto a
# Predict warm-up record uses, with TF Serving's package, names and field numbers, in
# the project's one declaration format (contract/protos.py: protobuf only, no
# TensorFlow). Tensors are declared as bytes (the same wire format as an embedded
# message) and decoded with TensorFlow's own TensorProto; the other log kinds too.
_LOG_KINDS = [("classify_log", 2), ("regress_log", 3), ("multi_inference_log", 4),
              ("session_run_log", 5), ("predict_streamed_log", 7)]
_PACKAGES = {"tensorflow.serving": {"messages": {
    "ModelSpec": [("name", 1, "string"), ("signature_name", 3, "string")],
    "PredictRequest": [("model_spec", 1, "tensorflow.serving.ModelSpec"),
                       ("inputs", 2, "map<string, bytes>"),
                       ("output_filter", 3, "repeated string")],
    "PredictLog": [("request", 1, "tensorflow.serving.PredictRequest")],
    "PredictionLog": [("predict_log", 6, "tensorflow.serving.PredictLog", "log_type"),
                      *((name, number, "bytes", "log_type") for name, number in _LOG_KINDS)],
}}}
PredictionLog = message_class(build_pool(_PACKAGES, "tfstack/export"),
                              "tensorflow.serving.PredictionLog")


class CheckError(Exception):
    """A version TF Serving would not load or warm up; says which record and why."""


def read_requests(path: Path) -> list:
    """The PredictRequests of the warm-up file at `path`, in order."""
    requests = []
    for index, raw in enumerate(tf.data.TFRecordDataset(str(path))):
        if index == MAX_WARMUP_RECORDS:
            raise CheckError(f"{path} holds more than {MAX_WARMUP_RECORDS} records, "
                             "TF Serving's maximum")
        record = PredictionLog.FromString(raw.numpy())
        kind = record.WhichOneof("log_type")
        if kind != "predict_log":
            raise CheckError(f"record {index} is a {kind or 'empty log'}; "
                             "only predict_log records are replayed here")
        requests.append(record.predict_log.request)
    return requests


def feeds_and_fetches(signature_def, request) -> tuple[dict, dict]:
    """Tensor names to feed and fetch for `request`, checked as TF Serving's Predict does."""
    inputs, outputs = signature_def.inputs, signature_def.outputs
    if set(request.inputs) != set(inputs):
        raise CheckError(f"inputs {sorted(request.inputs)} do not match the signature's "
                         f"{sorted(inputs)}")
    unknown = sorted(set(request.output_filter) - set(outputs))
    if unknown:
        raise CheckError(f"output_filter names {unknown}, not in the signature's "
                         f"{sorted(outputs)}")
    feeds = {}
    for key, value in request.inputs.items():
        tensor = tensor_pb2.TensorProto.FromString(value)
        if tensor.dtype != inputs[key].dtype:
            raise CheckError(f"input {key!r} is {tf.dtypes.as_dtype(tensor.dtype).name}; the "
                             f"signature expects {tf.dtypes.as_dtype(inputs[key].dtype).name}")
        feeds[inputs[key].name] = tf.make_ndarray(tensor)
    fetches = {key: outputs[key].name for key in (request.output_filter or outputs)}
    return feeds, fetches


def check_version(version_dir: Path) -> list[str]:
    """Loads `version_dir` in a v1 Session and runs each warm-up record.

    Returns the signature name of each record replayed.
    """
    path = version_dir.joinpath(*WARMUP_PATH)
    requests = read_requests(path) if path.is_file() else []
    replayed = []
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        try:
            meta_graph = tf.compat.v1.saved_model.loader.load(
                session, [tf.saved_model.SERVING], str(version_dir))
        except Exception as e:
            raise CheckError(f"load failed: {type(e).__name__}: {e}") from e
        for index, request in enumerate(requests):
            name = request.model_spec.signature_name or DEFAULT_SIGNATURE
            try:
                if name not in meta_graph.signature_def:
                    raise CheckError(f"no signature {name!r}; it has "
                                     f"{sorted(meta_graph.signature_def)}")
                feeds, fetches = feeds_and_fetches(meta_graph.signature_def[name], request)
                session.run(fetches, feed_dict=feeds)
            except Exception as e:
                error = e if isinstance(e, CheckError) else f"{type(e).__name__}: {e}"
                raise CheckError(f"warm-up record {index} ({name}): {error}") from e
            replayed.append(name)
    return replayed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("version_dirs", nargs="+", type=Path,
                        help="SavedModel directories, e.g. model_repository/qa/1")
    args = parser.parse_args(argv)
    tf.get_logger().setLevel(logging.ERROR)  # the v1 loader's deprecation notice
    failed = 0
    for version_dir in args.version_dirs:
        try:
            replayed = check_version(version_dir)
        except CheckError as e:
            print(f"FAILED {version_dir}: {e}", file=sys.stderr)
            failed += 1
            continue
        print(f"replayed {len(replayed)} warm-up records of {version_dir} "
              f"(TensorFlow {tf.__version__}): {', '.join(replayed)}")
    if failed:
        print(f"{failed} of {len(args.version_dirs)} versions failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
