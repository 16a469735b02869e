"""`AsyncServingClient`: the asyncio twin of `ServingClient`, same method names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients import codecs
from clients.channels import CHANNEL_OPTIONS, ChannelSecurity, channel_target, secure_aio_channel
from clients.client import DEFAULT_DEADLINE
from clients.codecs import ClassifierCodec, EndpointCodec, QACodec, TranslatorCodec
from clients.errors import ClientError
from clients.results import Answer, Classification, Translation, VersionStatus
from contract import protos
from contract.defaults import BATCH_SIZE, DEFAULT_TARGET, TOP_K
from contract.endpoints import CLASSIFIER, DEFAULT_SIGNATURE, QA, TRANSLATOR
from contract.tracing import trace_metadata


class AsyncServingClient:
    """A grpc.aio client of TF Serving's PredictionService and ModelService.

    Args:
        target: str. As for `ServingClient` (one address, `dns:///...`, or several).
        deadline: float. Seconds each call may take before DEADLINE_EXCEEDED.
        wait_for_ready: bool. Wait (up to the deadline) for an unreachable server
            instead of failing at once: what batch jobs want across restarts.
        security: ChannelSecurity. TLS and bearer token, as for `ServingClient`.

    Example:
    >>> async with AsyncServingClient("127.0.0.1:8500") as client:
    ...     (await client.classify(["shirt.png"]))[0].top.name
    'Shirt'
    """

    def __init__(self, target: str = DEFAULT_TARGET, deadline: float = DEFAULT_DEADLINE,
                 wait_for_ready: bool = False, security: ChannelSecurity | None = None):
        self.target = target
        self.deadline = deadline
        self.security = security or ChannelSecurity()
        self._wait = wait_for_ready
        self._channel = secure_aio_channel(channel_target(target), self.security,
                                           CHANNEL_OPTIONS)
        self._predict = protos.PredictionServiceStub(self._channel)
        self._models = protos.ModelServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    async def __aenter__(self) -> "AsyncServingClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, method, request):
        try:
            return await method(request, timeout=self.deadline, wait_for_ready=self._wait,
                                metadata=trace_metadata())
        except grpc.RpcError as e:
            raise ClientError.from_rpc_error(e, self.target, self.security) from e

    async def call_predict(self, request) -> object:
        """Sends a ready-made PredictRequest (see `clients.codecs`); returns the response."""
        return await self._call(self._predict.Predict, request)

    async def predict(self, model: str, inputs: Mapping[str, object],
                      signature: str = DEFAULT_SIGNATURE, version: int | None = None,
                      label: str | None = None,
                      output_filter: Sequence[str] = ()) -> dict[str, np.ndarray]:
        request = codecs.predict_request(model, inputs, signature, version, label,
                                           output_filter)
        return codecs.predict_outputs(await self._call(self._predict.Predict, request))

    async def metadata(self, model: str, version: int | None = None, label: str | None = None):
        request = codecs.metadata_request(model, version, label)
        return codecs.signature_defs(await self._call(self._predict.GetModelMetadata, request))

    async def status(self, model: str, version: int | None = None) -> list[VersionStatus]:
        request = codecs.status_request(model, version)
        return codecs.version_statuses(await self._call(self._models.GetModelStatus, request))

    async def healthy(self, service: str = "") -> bool:
        response = await self._call(self._health.Check,
                                    health_pb2.HealthCheckRequest(service=service))
        return response.status == health_pb2.HealthCheckResponse.SERVING

    async def call(self, codec: EndpointCodec, payloads: Sequence,
                   batch_size: int | None = BATCH_SIZE) -> list:
        """As `ServingClient.call`: requests of at most `batch_size`, one after another."""
        results = []
        for request, rows in codec.requests(payloads, batch_size):
            results += codec.decode(await self._call(self._predict.Predict, request), rows)
        return results

    async def classify(self, images: Sequence[bytes | str | Path], top_k: int = TOP_K,
                       model: str = CLASSIFIER.model_name, version: int | None = None,
                       label: str | None = None,
                       batch_size: int | None = BATCH_SIZE) -> list[Classification]:
        """As `ServingClient.classify`."""
        codec = ClassifierCodec(top_k, model=model, version=version, label=label)
        return await self.call(codec, images, batch_size)

    async def ask(self, story: str, question: str | Sequence[str], model: str = QA.model_name,
                  version: int | None = None, label: str | None = None,
                  batch_size: int | None = BATCH_SIZE) -> Answer | list[Answer]:
        """As `ServingClient.ask`."""
        questions = [question] if isinstance(question, str) else list(question)
        codec = QACodec(model=model, version=version, label=label)
        results = await self.call(codec, [(story, q) for q in questions], batch_size)
        return results[0] if isinstance(question, str) else results

    async def translate(self, sentences: Sequence[str] | str, greedy: bool = False,
                        model: str = TRANSLATOR.model_name, version: int | None = None,
                        label: str | None = None,
                        batch_size: int | None = BATCH_SIZE) -> list[Translation]:
        """As `ServingClient.translate`."""
        sentences = [sentences] if isinstance(sentences, str) else list(sentences)
        codec = TranslatorCodec(greedy, model=model, version=version, label=label)
        return await self.call(codec, sentences, batch_size)
