"""Replaying a SavedModel's warm-up records (`assets.extra/tf_serving_warmup_requests`)
before the version serves, as TF Serving does (servables/tensorflow/
saved_model_warmup.cc and saved_model_warmup_util.cc): Predict, Classify, Regress and
MultiInference records, each `iterations` times; more than 1,000 records fail the load."""

from __future__ import annotations

import logging

import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow_serving.apis import input_pb2, prediction_log_pb2

from contract.defaults import MAX_WARMUP_RECORDS, WARMUP_PATH
from serving.errors import InvalidArgument, ServingError, Unimplemented
from serving.inference import (
    CLASSIFY_METHOD,
    REGRESS_METHOD,
    classification_result,
    example_input_key,
    regression_result,
    serialized_examples,
)
from serving.servable import DEFAULT_SIGNATURE, Servable
from serving.tensor_protos import to_arrays

logger = logging.getLogger(__name__)



def replay_warmup(servable: Servable, iterations: int = 1,
                  check_method_names: bool = False) -> int:
    """Runs each record against `servable` `iterations` times; returns how many
    records ran. A failing record fails the load, so a version that cannot answer its
    own warm-up never serves."""
    path = servable.path.joinpath(*WARMUP_PATH)
    if not path.is_file():
        return 0
    count = 0
    for raw in tf.data.TFRecordDataset(str(path)):
        if count == MAX_WARMUP_RECORDS:
            raise InvalidArgument(f"Number of warmup records exceeds the maximum "
                                  f"({MAX_WARMUP_RECORDS}) at {path}")
        try:
            record = prediction_log_pb2.PredictionLog.FromString(raw.numpy())
        except DecodeError as e:
            raise InvalidArgument(f"Failed to parse warmup record {count} from {path}: "
                                  f"{e}") from e
        for _ in range(max(iterations, 1)):
            try:
                _replay(servable, record, check_method_names)
            except ServingError as e:
                raise type(e)(f"warm-up record {count} in {path} failed: {e}") from e
        count += 1
    logger.info("%s version %d: replayed %d warm-up records %d time(s) each",
                servable.name, servable.version, count, max(iterations, 1))
    return count


def _replay(servable: Servable, record: prediction_log_pb2.PredictionLog,
            check_method_names: bool) -> None:
    kind = record.WhichOneof("log_type")
    if kind == "predict_log":
        request = record.predict_log.request
        inputs = to_arrays(request.inputs)
        outputs = list(request.output_filter)
        signature = servable.validate(request.model_spec.signature_name, inputs, outputs)
        servable.run(signature, inputs, outputs)
    elif kind in ("classify_log", "regress_log"):
        request = getattr(record, kind).request
        method = CLASSIFY_METHOD if kind == "classify_log" else REGRESS_METHOD
        _infer(servable, method, request.model_spec.signature_name, request.input,
               check_method_names)
    elif kind == "multi_inference_log":
        request = record.multi_inference_log.request
        for task in request.tasks:
            _infer(servable, task.method_name, task.model_spec.signature_name,
                   request.input, check_method_names)
    else:
        raise Unimplemented(f"Unsupported log_type for warmup: {kind}")


def _infer(servable: Servable, method: str, signature: str, request_input: input_pb2.Input,
           check_method_names: bool) -> None:
    if method not in (CLASSIFY_METHOD, REGRESS_METHOD):
        raise InvalidArgument(f"Unsupported signature method_name: {method}")
    signature = signature or DEFAULT_SIGNATURE
    key = example_input_key(servable, signature, method, check_method_names)
    examples = serialized_examples(request_input)
    outputs = servable.run(signature, {key: examples})
    to_result = classification_result if method == CLASSIFY_METHOD else regression_result
    to_result(outputs, len(examples))
