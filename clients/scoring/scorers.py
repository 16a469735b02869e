"""How batch scoring uses each endpoint, whatever carries the call (the asyncio
client, the blocking one, or the SavedModel run in a Beam worker): what an input
item's payload is, and the fields of its result row. Requests and answers are the
endpoint's codec's (`clients.codecs`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from clients.codecs import ClassifierCodec, EndpointCodec, QACodec, TranslatorCodec
from clients.scoring.files import Item
from contract.defaults import TOP_K


def read_local(path: str) -> bytes:
    return Path(path).read_bytes()


class Scorer:
    """An endpoint as scoring sees it: `payload` reads an item, the codec turns a batch
    of payloads into input arrays (`inputs`) and output arrays into one result row each
    (`results`, `rows` being the number of payloads sent)."""

    fields: tuple[str, ...]
    column: str | None = None  # the input column holding an item's value

    def __init__(self, codec: EndpointCodec):
        self.codec = codec
        self.model, self.signature = codec.model, codec.signature

    def payload(self, item: Item, read: Callable[[str], bytes] = read_local):
        return item.value

    def inputs(self, payloads: Sequence) -> dict[str, np.ndarray]:
        return self.codec.inputs(payloads)

    def results(self, outputs: Mapping[str, np.ndarray], rows: int | None = None
                ) -> list[dict]:
        return self.rows(self.codec.results(outputs, rows))

    def rows(self, results: list) -> list[dict]:
        raise NotImplementedError


class ClassifierScorer(Scorer):
    """Items are image files; rows are the top-k labels."""

    fields = ("labels", "scores", "class_ids")

    def __init__(self, top_k: int = TOP_K):
        super().__init__(ClassifierCodec(top_k))

    def payload(self, item: Item, read: Callable[[str], bytes] = read_local) -> bytes:
        data = read(item.value)
        if not data:
            raise ValueError(f"{item.value} is empty")
        return data

    def rows(self, results: list) -> list[dict]:
        return [{"labels": [x.name for x in r.labels], "scores": [x.score for x in r.labels],
                 "class_ids": [x.class_id for x in r.labels]} for r in results]


class QAScorer(Scorer):
    """Items are JSONL/CSV records with `story` (text, or a list of facts) and
    `question` fields; rows are the answer and the facts the model attended to."""

    fields = ("answer", "probability", "supporting")
    column = "question"

    def __init__(self, top_k: int = 2):
        super().__init__(QACodec())
        self.top_k = top_k

    def payload(self, item: Item, read: Callable[[str], bytes] = read_local
                ) -> tuple[str, str]:
        keys = [spec.key for spec in self.codec.contract.inputs]  # story, question
        missing = [name for name in keys if name not in item.fields]
        if missing:
            raise ValueError(f"record has no {' or '.join(missing)} field")
        story, question = (item.fields[key] for key in keys)
        return ("\n".join(map(str, story)) if isinstance(story, list) else str(story),
                str(question))

    def rows(self, results: list) -> list[dict]:
        return [{"answer": a.answer, "probability": a.probability,
                 "supporting": [fact for fact, _ in a.supporting(self.top_k)]}
                for a in results]


class TranslatorScorer(Scorer):
    """Items are sentences (text lines, or a JSONL/CSV column); rows are the
    beam-search translation and its score (the attention matrix is left out: it is
    large, and `tfstack translate --json` gives it for a sentence)."""

    fields = ("translation", "score")

    def __init__(self, top_k: int = 1):
        super().__init__(TranslatorCodec())  # top_k unused: one translation a sentence

    def rows(self, results: list) -> list[dict]:
        return [{"translation": t.translation, "score": t.score} for t in results]


SCORERS = {"classifier": ClassifierScorer, "qa": QAScorer, "translator": TranslatorScorer}


def scorer_for(model: str, top_k: int) -> Scorer:
    """The scorer of `model`; ValueError naming the known ones otherwise."""
    if model not in SCORERS:
        raise ValueError(f"no scorer for model {model!r}; known: {sorted(SCORERS)}")
    return SCORERS[model](top_k=top_k)
