"""One codec per endpoint: `encode(payloads) -> PredictRequest` and
`decode(response, rows) -> results`, shared by the blocking and the asyncio client,
`tfstack score` and the Beam handlers (which run `inputs` and `results` around a
SavedModel in the worker instead of a request), as Triton's clients share one request
builder. Keys and dtypes come from the wire contract; an answer that breaks it is a
`MalformedResponse`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from clients import messages, response_checks
from clients.errors import MalformedResponse
from clients.results import Answer, Classification, Label, Translation
from contract.defaults import TOP_K
from contract.endpoints import (
    CLASSIFIER,
    DEFAULT_SIGNATURE,
    GREEDY_SIGNATURE,
    QA,
    TRANSLATOR,
    Endpoint,
    Signature,
)
from contract.protos import PredictRequest
from contract.tensor_codec import make_tensor_proto

Outputs = Mapping[str, np.ndarray]


def strings(values: Sequence[str | bytes]) -> np.ndarray:
    """A DT_STRING batch: a 1-D object array of bytes (text as UTF-8)."""
    array = np.empty(len(values), dtype=object)
    array[:] = [v if isinstance(v, bytes) else v.encode("utf-8") for v in values]
    return array


class EndpointCodec:
    """Requests to one endpoint's signature and its answers read as typed results.

    Subclasses say how a batch of payloads becomes the signature's input arrays
    (`inputs`) and how its output arrays become one result per payload (`results`).
    """

    endpoint: Endpoint

    def __init__(self, model: str | None = None, signature: str = DEFAULT_SIGNATURE,
                 version: int | None = None, label: str | None = None):
        self.model = model or self.endpoint.model_name
        self.signature = signature
        self.version = version
        self.label = label

    @property
    def contract(self) -> Signature:
        return self.endpoint.signature(self.signature)

    def inputs(self, payloads: Sequence) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def results(self, outputs: Outputs, rows: int | None = None) -> list:
        raise NotImplementedError

    def encode(self, payloads: Sequence) -> PredictRequest:
        """The PredictRequest for a batch of payloads, each input of its contract dtype."""
        tensors = {key: make_tensor_proto(array, dtype=self.contract.input(key).dtype)
                   for key, array in self.inputs(payloads).items()}
        return messages.predict_request(self.model, tensors, self.signature, self.version,
                                        self.label)

    def decode(self, response, rows: int | None = None) -> list:
        """One result per payload sent (`rows` of them, when known)."""
        return self.results(messages.predict_outputs(response), rows)

    def requests(self, payloads: Sequence, batch_size: int | None
                 ) -> Iterator[tuple[PredictRequest, int]]:
        """The requests for `payloads` in order, at most `batch_size` each (None: one),
        with the number of payloads each carries."""
        for batch in messages.batches(list(payloads), batch_size):
            yield self.encode(batch), len(batch)


class ClassifierCodec(EndpointCodec):
    """Payloads are encoded images (bytes, or the path of a file); results are the top
    `top_k` labels of each."""

    endpoint = CLASSIFIER

    def __init__(self, top_k: int = TOP_K, **target):
        super().__init__(**target)
        self.top_k = top_k

    def inputs(self, payloads: Sequence[bytes | str | Path]) -> dict[str, np.ndarray]:
        images = [p if isinstance(p, bytes) else Path(p).read_bytes() for p in payloads]
        return {self.contract.inputs[0].key: strings(images)}

    def results(self, outputs: Outputs, rows: int | None = None) -> list[Classification]:
        checked = response_checks.contract_outputs(outputs, self.contract, rows)
        response_checks.same_shape(checked, ("classes", "scores", "class_ids"))
        images, labels = checked["classes"].shape
        return [Classification(tuple(_label(checked, i, j)
                                     for j in range(min(self.top_k, labels))))
                for i in range(images)]


def _label(outputs: Outputs, i: int, j: int) -> Label:
    """Label `j` of image `i`."""
    return Label(response_checks.text(outputs["classes"][i, j], "classes", i, j),
                 float(outputs["scores"][i, j]), int(outputs["class_ids"][i, j]))


class QACodec(EndpointCodec):
    """Payloads are (story, question) pairs, a story one fact a line; results are the
    answers, with each memory pass's attention over the facts (padding dropped)."""

    endpoint = QA

    def inputs(self, payloads: Sequence[tuple[str, str]]) -> dict[str, np.ndarray]:
        story, question = (spec.key for spec in self.contract.inputs)
        return {story: strings([s for s, _ in payloads]),
                question: strings([q for _, q in payloads])}

    def results(self, outputs: Outputs, rows: int | None = None) -> list[Answer]:
        checked = response_checks.contract_outputs(outputs, self.contract, rows)
        facts, gates = checked["facts"], checked["gates"]
        if gates.shape[2] != facts.shape[1]:
            raise MalformedResponse(f"output 'gates' has shape {list(gates.shape)} for the "
                                    f"{facts.shape[1]} facts of output 'facts'")
        results = []
        for i, answer in enumerate(checked["answer"]):
            real = [j for j, fact in enumerate(facts[i]) if fact]
            results.append(Answer(
                response_checks.text(answer, "answer", i), float(checked["probability"][i]),
                tuple(response_checks.text(facts[i, j], "facts", i, j) for j in real),
                tuple(tuple(float(g[j]) for j in real) for g in gates[i])))
        return results


class TranslatorCodec(EndpointCodec):
    """Payloads are sentences; results are translations by beam search, or with
    `greedy` by the faster greedy decoding, each with its score and attention matrix
    (padding tokens and attention dropped)."""

    endpoint = TRANSLATOR

    def __init__(self, greedy: bool = False, **target):
        super().__init__(signature=GREEDY_SIGNATURE if greedy else DEFAULT_SIGNATURE,
                         **target)

    def inputs(self, payloads: Sequence[str]) -> dict[str, np.ndarray]:
        return {self.contract.inputs[0].key: strings(payloads)}

    def results(self, outputs: Outputs, rows: int | None = None) -> list[Translation]:
        checked = response_checks.contract_outputs(outputs, self.contract, rows)
        results = []
        for i, text in enumerate(checked["translation"]):
            source = _tokens(checked, "source_tokens", i)
            target = _tokens(checked, "target_tokens", i)
            attention = checked["attention"][i]
            if attention.shape[0] < len(target) or attention.shape[1] < len(source):
                raise MalformedResponse(
                    f"output 'attention' has {list(attention.shape)} weights at [{i}] for "
                    f"{len(target)} target and {len(source)} source tokens")
            results.append(Translation(
                response_checks.text(text, "translation", i), float(checked["score"][i]),
                source, target, tuple(tuple(float(w) for w in row)
                                      for row in attention[:len(target), :len(source)])))
        return results


def _tokens(outputs: Outputs, key: str, i: int) -> tuple[str, ...]:
    """Row `i` of a token output, padding ('') dropped."""
    return tuple(response_checks.text(token, key, i, j)
                 for j, token in enumerate(outputs[key][i]) if token)


CODECS = {codec.endpoint.model_name: codec
          for codec in (ClassifierCodec, QACodec, TranslatorCodec)}
