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
