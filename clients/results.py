"""Typed results of the endpoint calls."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Label:
    """One predicted label: its name, score and the dataset's index for it."""

    name: str
    score: float
    class_id: int


@dataclass(frozen=True)
class Classification:
    """The top-k labels of one image, best first."""

    labels: tuple[Label, ...]

    @property
    def top(self) -> Label:
        return self.labels[0]


@dataclass(frozen=True)
class VersionStatus:
    """One version's state as GetModelStatus reports it."""

    version: int
    state: str
    error_code: str
    error_message: str


@dataclass(frozen=True)
class Answer:
    """A QA answer, with the facts of the story and each memory pass's attention
    over them (`gates[pass][fact]`, padding removed)."""

    answer: str
    probability: float
    facts: tuple[str, ...]
    gates: tuple[tuple[float, ...], ...]

    def supporting(self, count: int = 2) -> list[tuple[str, float]]:
        """The facts the last pass attended to most, strongest first."""
        last = self.gates[-1] if self.gates else ()
        order = sorted(range(len(last)), key=lambda i: -last[i])[:count]
        return [(self.facts[i], last[i]) for i in order]


@dataclass(frozen=True)
class Translation:
    """A translation with its score (length-normalised log-probability, ≤ 0) and the
    decoder's attention: `attention[target][source]`, trimmed to the real tokens
    (the source ends with '</s>', a position attention can point at)."""

    translation: str
    score: float
    source_tokens: tuple[str, ...]
    target_tokens: tuple[str, ...]
    attention: tuple[tuple[float, ...], ...]

    def alignment(self) -> list[tuple[str, str, float]]:
        """For each target token, the source token it attended to most, with the weight."""
        pairs = []
        for token, row in zip(self.target_tokens, self.attention, strict=True):
            best = max(range(len(row)), key=row.__getitem__) if row else None
            pairs.append((token, self.source_tokens[best] if best is not None else "",
                          row[best] if best is not None else 0.0))
        return pairs
