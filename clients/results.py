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
