"""What batch scoring sends each endpoint and keeps of its answer, whatever carries
the call (the asyncio client, the blocking one, or the SavedModel run in a Beam
worker): an item's payload, the signature's input arrays for a batch of payloads,
and the result fields of each row from the signature's output arrays (`rows`: the
number of payloads sent, which a well-formed answer has as many rows of)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from clients import messages
from clients.score_io import Item
from export.contracts import CLASSIFIER, DEFAULT_SIGNATURE, QA, TRANSLATOR

Outputs = Mapping[str, np.ndarray]


def read_local(path: str) -> bytes:
    return Path(path).read_bytes()


def _strings(values: Sequence[str | bytes]) -> np.ndarray:
    """A DT_STRING batch: a 1-D object array of bytes."""
    array = np.empty(len(values), dtype=object)
    array[:] = [v if isinstance(v, bytes) else v.encode("utf-8") for v in values]
    return array


class ClassifierEndpoint:
    """Items are image files; results are the top-k labels."""

    model = CLASSIFIER.model_name
    signature = DEFAULT_SIGNATURE
    fields = ("labels", "scores", "class_ids")
    column = None

    def __init__(self, top_k: int = 5):
        self.top_k = top_k

    def payload(self, item: Item, read: Callable[[str], bytes] = read_local) -> bytes:
        data = read(item.value)
        if not data:
            raise ValueError(f"{item.value} is empty")
        return data

    def inputs(self, payloads: Sequence[bytes]) -> dict[str, np.ndarray]:
        return {CLASSIFIER.signature(self.signature).inputs[0].key: _strings(payloads)}

    def results(self, outputs: Outputs, rows: int | None = None) -> list[dict]:
        return [{"labels": [x.name for x in r.labels], "scores": [x.score for x in r.labels],
                 "class_ids": [x.class_id for x in r.labels]}
                for r in messages.classifications(outputs, self.top_k, rows)]


class QAEndpoint:
    """Items are JSONL/CSV records with `story` (text, or a list of facts) and
    `question` fields; results are the answer and the facts the model attended to."""

    model = QA.model_name
    signature = DEFAULT_SIGNATURE
    fields = ("answer", "probability", "supporting")
    column = "question"

    def __init__(self, top_k: int = 2):
        self.top_k = top_k

    def payload(self, item: Item, read: Callable[[str], bytes] = read_local
                ) -> tuple[str, str]:
        missing = [name for name in ("story", "question") if name not in item.fields]
        if missing:
            raise ValueError(f"record has no {' or '.join(missing)} field")
        story = item.fields["story"]
        return ("\n".join(map(str, story)) if isinstance(story, list) else str(story),
                str(item.fields["question"]))

    def inputs(self, payloads: Sequence[tuple[str, str]]) -> dict[str, np.ndarray]:
        return {"story": _strings([s for s, _ in payloads]),
                "question": _strings([q for _, q in payloads])}

    def results(self, outputs: Outputs, rows: int | None = None) -> list[dict]:
        return [{"answer": a.answer, "probability": a.probability,
                 "supporting": [fact for fact, _ in a.supporting(self.top_k)]}
                for a in messages.answers(outputs, rows)]


class TranslatorEndpoint:
    """Items are sentences (text lines, or a JSONL/CSV column); results are the
    beam-search translation and its score (the attention matrix is left out: it is
    large, and `tfstack translate --json` gives it for a sentence)."""

    model = TRANSLATOR.model_name
    signature = DEFAULT_SIGNATURE
    fields = ("translation", "score")
    column = None

    def __init__(self, top_k: int = 1):
        self.top_k = top_k  # unused: one translation per sentence

    def payload(self, item: Item, read: Callable[[str], bytes] = read_local) -> str:
        return item.value

    def inputs(self, payloads: Sequence[str]) -> dict[str, np.ndarray]:
        return {TRANSLATOR.signature(self.signature).inputs[0].key: _strings(payloads)}

    def results(self, outputs: Outputs, rows: int | None = None) -> list[dict]:
        return [{"translation": t.translation, "score": t.score}
                for t in messages.translations(outputs, rows)]


ENDPOINTS = {"classifier": ClassifierEndpoint, "qa": QAEndpoint,
             "translator": TranslatorEndpoint}


def endpoint_for(model: str, top_k: int):
    """The endpoint scoring `model`; ValueError naming the known ones otherwise."""
    if model not in ENDPOINTS:
        raise ValueError(f"no scorer for model {model!r}; known: {sorted(ENDPOINTS)}")
    return ENDPOINTS[model](top_k=top_k)
