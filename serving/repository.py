"""The models being served: which versions are loaded, and the state of each."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from serving.config import ModelConfig, select_versions
from serving.errors import NotFound, ServingError, Unavailable
from serving.servable import Servable, load_servable
from serving.warmup import replay_warmup

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VersionState:
    """A version's state as GetModelStatus reports it (`AVAILABLE`, `LOADING`, `END`),
    with the error that ended it, if any."""

    version: int
    state: str
    error: ServingError | None = None


class ModelRepository:
    """Loads each configured model's versions from its base path and hands out
    servables by name, version or label."""

    def __init__(self, models: list[ModelConfig], warmup: bool = True):
        self._models = {m.name: m for m in models}
        self._warmup = warmup
        self._servables: dict[str, dict[int, Servable]] = {m.name: {} for m in models}
        self._states: dict[str, dict[int, VersionState]] = {m.name: {} for m in models}
        self._lock = threading.Lock()

    @property
    def model_names(self) -> list[str]:
        return sorted(self._models)

    def load_all(self) -> None:
        """Loads the versions each model's policy selects; failures are recorded in
        the model's status and never stop the other models from serving."""
        for model in self._models.values():
            base = Path(model.base_path)
            available = sorted(int(p.name) for p in base.iterdir()
                               if p.is_dir() and p.name.isdigit()) if base.is_dir() else []
            if not available:
                logger.warning("model %s: no version folders under %s", model.name, base)
            for version in select_versions(available, model):
                self._load(model.name, version, base / str(version))

    def _load(self, name: str, version: int, path: Path) -> None:
        self._set_state(name, VersionState(version, "LOADING"))
        try:
            servable = load_servable(name, version, path)
            if self._warmup:
                replay_warmup(servable)
        except ServingError as e:
            logger.error("model %s version %d failed to load: %s", name, version, e)
            self._set_state(name, VersionState(version, "END", e))
            return
        with self._lock:
            self._servables[name][version] = servable
        self._set_state(name, VersionState(version, "AVAILABLE"))

    def _set_state(self, name: str, state: VersionState) -> None:
        with self._lock:
            self._states[name][state.version] = state

    def servable(self, name: str, version: int | None = None,
                 label: str | None = None) -> Servable:
        """The servable for a request; NotFound says what is served instead."""
        if name not in self._models:
            raise NotFound(f"Servable not found for request: Latest({name}). "
                           f"Models served: {', '.join(self.model_names) or 'none'}")
        with self._lock:
            loaded = dict(self._servables[name])
        if label:
            version = self._resolve_label(name, label)
        if version is None:
            if not loaded:
                raise Unavailable(f"model {name} has no version loaded yet; see its status")
            return loaded[max(loaded)]
        if version not in loaded:
            raise NotFound(
                f"Servable not found for request: Specific({name}, {version}). "
                f"Versions available: {', '.join(map(str, sorted(loaded))) or 'none'}"
            )
        return loaded[version]

    def _resolve_label(self, name: str, label: str) -> int:
        labels = self._models[name].version_labels
        if label not in labels:
            known = ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "none"
            raise NotFound(f"Unrecognized servable version label: {label} for model {name}. "
                           f"Labels: {known}")
        return labels[label]

    def states(self, name: str, version: int | None = None) -> list[VersionState]:
        """The state of each version of `name` (or just `version`)."""
        if name not in self._models:
            raise NotFound(f"Could not find any versions of model {name}. "
                           f"Models served: {', '.join(self.model_names) or 'none'}")
        with self._lock:
            states = dict(self._states[name])
        if version is not None:
            if version not in states:
                raise NotFound(f"Could not find version {version} of model {name}. "
                               f"Versions known: {', '.join(map(str, sorted(states))) or 'none'}")
            return [states[version]]
        return [states[v] for v in sorted(states)]
