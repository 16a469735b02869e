"""A real gRPC server on 127.0.0.1 whose Predict answers the test writes by hand:
answers no honest server sends (a shape of 250 million rows in 100 bytes, too few
rows, labels that are not UTF-8) and well-formed ones, from a server that needs
no model. Its TensorProtos are built field by field, as a hostile server would."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent import futures

import grpc
import numpy as np

from contract import protos
from contract import tensor_codec as tensors

Answer = Callable[[protos.PredictRequest], protos.PredictResponse]


class ScriptedServer:
    """PredictionService.Predict answering each request with `answer(request)`;
    `requests` counts the calls. A context manager: started on entry, stopped on exit."""

    def __init__(self, answer: Answer):
        self.answer = answer
        self.requests = 0
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(4))
        handler = grpc.unary_unary_rpc_method_handler(
            self._predict, request_deserializer=protos.PredictRequest.FromString,
            response_serializer=lambda response: response.SerializeToString())
        self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "tensorflow.serving.PredictionService", {"Predict": handler}),))
        self.target = f"127.0.0.1:{self._server.add_insecure_port('127.0.0.1:0')}"

    def _predict(self, request, context) -> protos.PredictResponse:
        with self._lock:
            self.requests += 1
        return self.answer(request)

    def __enter__(self) -> ScriptedServer:
        self._server.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.stop(None)


def tensor(dtype: str, shape: list[int], **values) -> protos.TensorProto:
    """A TensorProto declaring `shape`, carrying only the `values` given (a typed
    field such as float_val=[0.5]): the rest is filled from the last one."""
    proto = protos.TensorProto(dtype=protos.DATA_TYPES[dtype], **values)
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    return proto


def response(**outputs) -> protos.PredictResponse:
    """A PredictResponse of the outputs given, as TensorProtos or arrays."""
    answer = protos.PredictResponse()
    for key, value in outputs.items():
        answer.outputs[key].CopyFrom(tensors.as_tensor_proto(value))
    return answer


def batch_size(request: protos.PredictRequest) -> int:
    """The number of inputs a request carries (its first input's first dimension)."""
    first = next(iter(request.inputs.values()))
    return first.tensor_shape.dim[0].size


def classifier_answer(rows: int, labels: tuple[bytes, ...] = (b"Shirt", b"Bag"),
                      scores: tuple[float, ...] = (0.75, 0.25)) -> protos.PredictResponse:
    """The classifier's answer, `rows` times the same labels and scores."""
    return response(
        classes=np.array([list(labels)] * rows, dtype=object),
        scores=np.array([list(scores)] * rows, dtype=np.float32),
        class_ids=np.array([list(range(len(labels)))] * rows, dtype=np.int64))


def well_formed_classifier(request: protos.PredictRequest) -> protos.PredictResponse:
    """What an honest classifier answers: one row per image."""
    return classifier_answer(batch_size(request))
