"""The request-log messages of calls that did not arrive as TF Serving's protos (REST):
the PredictLog, ClassifyLog or RegressLog a gRPC call of the same request would have
logged, built only for a request the sampling picked (on the log's own thread), and
what such a request holds while it waits there."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from tensorflow_serving.apis import (
    classification_pb2,
    input_pb2,
    predict_pb2,
    prediction_log_pb2,
    regression_pb2,
)

from serving.inference import CLASSIFY_METHOD
from serving.responses import model_spec
from serving.tensor_protos import to_tensor_proto


def predict_log(answer, inputs: Mapping[str, np.ndarray]) -> prediction_log_pb2.PredictLog:
    """The PredictLog of an answered Predict: its inputs and outputs as TensorProtos."""
    spec = model_spec(answer.servable, answer.signature)
    request = predict_pb2.PredictRequest(model_spec=spec)
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(to_tensor_proto(value))
    response = predict_pb2.PredictResponse(model_spec=spec)
    for key, value in answer.outputs.items():
        response.outputs[key].CopyFrom(to_tensor_proto(value))
    return prediction_log_pb2.PredictLog(request=request, response=response)


def arrays_bytes(arrays: Mapping[str, np.ndarray]) -> int:
    """What arrays take, strings counted by their bytes (an object array's `nbytes`
    counts only its pointers)."""
    total = 0
    for value in arrays.values():
        value = np.asarray(value)
        total += value.nbytes
        if value.dtype == object:
            total += sum(len(item) for item in value.flat if isinstance(item, bytes | str))
    return total


def example_log(method: str, answer, request_input: input_pb2.Input, result):
    """The ClassifyLog or RegressLog of an answered Classify or Regress."""
    spec = model_spec(answer.servable, answer.signature)
    if method == CLASSIFY_METHOD:
        return prediction_log_pb2.ClassifyLog(
            request=classification_pb2.ClassificationRequest(model_spec=spec,
                                                             input=request_input),
            response=classification_pb2.ClassificationResponse(model_spec=spec,
                                                                result=result))
    return prediction_log_pb2.RegressLog(
        request=regression_pb2.RegressionRequest(model_spec=spec, input=request_input),
        response=regression_pb2.RegressionResponse(model_spec=spec, result=result))
