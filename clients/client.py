"""`ServingClient`: calls any TF-Serving-compatible server over gRPC."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients import codecs
from clients.channels import CHANNEL_OPTIONS, ChannelSecurity, channel_target, secure_channel
from clients.codecs import ClassifierCodec, EndpointCodec, QACodec, TranslatorCodec
from clients.errors import ClientError
from clients.results import Answer, Classification, Translation, VersionStatus
from contract import protos
from contract.defaults import BATCH_SIZE, DEFAULT_TARGET, TOP_K
from contract.endpoints import CLASSIFIER, DEFAULT_SIGNATURE, QA, TRANSLATOR
from contract.tracing import trace_metadata

DEFAULT_DEADLINE = 10.0


class ServingClient:
    """A gRPC client of TF Serving's PredictionService and ModelService.

    Args:
        target: str. `host:port` of the server; `dns:///name:port` or several
            comma-separated `ip:port` addresses to balance over them (round robin).
        deadline: float. Seconds each call may take before DEADLINE_EXCEEDED.
        security: ChannelSecurity. TLS (CA, client certificate for mutual TLS, server
            name) and bearer token; None for a plain channel without a token.

    Example:
    >>> with ServingClient("127.0.0.1:8500") as client:
    ...     client.classify(["shirt.png"])[0].top.name
    'Shirt'
    """

    def __init__(self, target: str = DEFAULT_TARGET, deadline: float = DEFAULT_DEADLINE,
                 security: ChannelSecurity | None = None):
        self.target = target
        self.deadline = deadline
        self.security = security or ChannelSecurity()
        self._channel = secure_channel(channel_target(target), self.security,
                                       CHANNEL_OPTIONS)
        self._predict = protos.PredictionServiceStub(self._channel)
        self._models = protos.ModelServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def __enter__(self) -> "ServingClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def _call(self, method, request):
        try:
            return method(request, timeout=self.deadline, metadata=trace_metadata())
        except grpc.RpcError as e:
            raise ClientError.from_rpc_error(e, self.target, self.security) from e

    def predict(self, model: str, inputs: Mapping[str, object],
                signature: str = DEFAULT_SIGNATURE, version: int | None = None,
                label: str | None = None,
                output_filter: Sequence[str] = ()) -> dict[str, np.ndarray]:
        """Calls Predict; `inputs` maps tensor keys to arrays or TensorProtos."""
        request = codecs.predict_request(model, inputs, signature, version, label,
                                           output_filter)
        return codecs.predict_outputs(self._call(self._predict.Predict, request))

    def metadata(self, model: str, version: int | None = None, label: str | None = None):
        """The model's SignatureDefs, keyed by signature name (GetModelMetadata)."""
        request = codecs.metadata_request(model, version, label)
        return codecs.signature_defs(self._call(self._predict.GetModelMetadata, request))

    def status(self, model: str, version: int | None = None) -> list[VersionStatus]:
        """Each version's state (GetModelStatus)."""
        request = codecs.status_request(model, version)
        return codecs.version_statuses(self._call(self._models.GetModelStatus, request))

    def healthy(self, service: str = "") -> bool:
        """Whether the server reports SERVING for `service` ("" is the whole server)."""
        response = self._call(self._health.Check, health_pb2.HealthCheckRequest(service=service))
        return response.status == health_pb2.HealthCheckResponse.SERVING

    def call(self, codec: EndpointCodec, payloads: Sequence,
             batch_size: int | None = BATCH_SIZE) -> list:
        """`codec`'s results for `payloads`, in order, sent in requests of at most
        `batch_size` payloads (None: one request)."""
        results = []
        for request, rows in codec.requests(payloads, batch_size):
            results += codec.decode(self._call(self._predict.Predict, request), rows)
        return results

    def classify(self, images: Sequence[bytes | str | Path], top_k: int = TOP_K,
                 model: str = CLASSIFIER.model_name, version: int | None = None,
                 label: str | None = None,
                 batch_size: int | None = BATCH_SIZE) -> list[Classification]:
        """Top-k labels of each image, given as encoded bytes or file paths, in input
        order; sent in requests of at most `batch_size` images (None: one request)."""
        codec = ClassifierCodec(top_k, model=model, version=version, label=label)
        return self.call(codec, images, batch_size)

    def ask(self, story: str, question: str | Sequence[str], model: str = QA.model_name,
            version: int | None = None, label: str | None = None,
            batch_size: int | None = BATCH_SIZE) -> Answer | list[Answer]:
        """The answer to `question` about `story` (one fact a line), with the attention
        of each memory pass over the facts. A list of questions gets a list of answers,
        in order, asked in requests of at most `batch_size` (None: one request)."""
        questions = [question] if isinstance(question, str) else list(question)
        codec = QACodec(model=model, version=version, label=label)
        results = self.call(codec, [(story, q) for q in questions], batch_size)
        return results[0] if isinstance(question, str) else results

    def translate(self, sentences: Sequence[str] | str, greedy: bool = False,
                  model: str = TRANSLATOR.model_name, version: int | None = None,
                  label: str | None = None,
                  batch_size: int | None = BATCH_SIZE) -> list[Translation]:
        """Translations of `sentences`, in order, by beam search or, with `greedy`,
        greedy decoding; each with its score and attention matrix. Sent in requests of
        at most `batch_size` sentences (None: one request; none for no sentences)."""
        sentences = [sentences] if isinstance(sentences, str) else list(sentences)
        codec = TranslatorCodec(greedy, model=model, version=version, label=label)
        return self.call(codec, sentences, batch_size)
