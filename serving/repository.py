"""The models being served: which versions are loaded, and the state of each."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from serving.config import ModelConfig, select_versions
from serving.config_rules import check_labels, check_platforms_unchanged
from serving.errors import FailedPrecondition, NotFound, ServingError, Unavailable
from serving.servable import LoadOptions, Servable, load_servable
from serving.warmup import replay_warmup

logger = logging.getLogger(__name__)


# What absl::SimpleAtoi reads as an int64, as TF Serving parses version folder names
# (sources/storage_path/file_system_storage_path_source.cc, ParseVersionNumber): ASCII
# digits with an optional sign and surrounding ASCII whitespace; "00000123" is 123.
_VERSION = re.compile(r"\s*[+-]?[0-9]+\s*", re.ASCII)
_INT64 = range(-2**63, 2**63)


def parse_version(name: str) -> int | None:
    """The version a folder name stands for, or None for a folder that is no version
    (which TF Serving skips without an error)."""
    if not _VERSION.fullmatch(name):
        return None
    version = int(name)
    return version if version in _INT64 else None


def version_folders(base: Path) -> dict[int, str]:
    """Each version under `base` with the folder it is in; of two folders naming the
    same version ("7", "007"), the last in name order wins, with a warning."""
    folders: dict[int, str] = {}
    for path in sorted(base.iterdir()):
        version = parse_version(path.name)
        if version is None or not path.is_dir():
            continue
        if version in folders:
            logger.warning("duplicate version folders for version %d under %s: %s is "
                           "loaded, %s ignored", version, base, path.name, folders[version])
        folders[version] = path.name
    return folders


@dataclass(frozen=True)
class VersionState:
    """A version's state as GetModelStatus reports it (`AVAILABLE`, `LOADING`, `END`),
    with the error that ended it, if any."""

    version: int
    state: str
    error: ServingError | None = None


@dataclass(frozen=True)
class LoadPolicy:
    """When a failed version is tried again, and how long a poll waits on one load.

    TF Serving retries a failed load `max_retries` times, `retry_interval_seconds`
    apart (--max_num_load_retries, --load_retry_interval_micros); here each retry is
    made by the first poll after the interval, and a version whose files change is
    tried again at once, whatever its count (a copy that has since completed). A load
    still running after `wait_seconds` (storage that hangs) is left to finish on its
    own thread while polling goes on with the other models."""

    max_retries: int = 5
    retry_interval_seconds: float = 60.0
    wait_seconds: float = 60.0


@dataclass(frozen=True)
class _Failure:
    fingerprint: tuple
    attempts: int
    at: float  # time.monotonic() of the failure


class ModelRepository:
    """Loads each configured model's versions from its base path and hands out
    servables by name, version or label."""

    def __init__(self, models: list[ModelConfig], load: LoadOptions | None = None,
                 policy: LoadPolicy = LoadPolicy(),
                 allow_labels_for_unavailable: bool = False):
        self._models: dict[str, ModelConfig] = {}
        self._allow_labels_for_unavailable = allow_labels_for_unavailable
        self._load_options = load or LoadOptions()
        self._policy = policy
        self._servables: dict[str, dict[int, Servable]] = {}
        self._states: dict[str, dict[int, VersionState]] = {}
        self._failures: dict[tuple[str, int], _Failure] = {}
        self._pending: dict[tuple[str, int], threading.Thread] = {}
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self.set_models(models)

    @property
    def tags(self) -> list[str]:
        """The MetaGraphDef tags versions are loaded with (--saved_model_tags)."""
        return sorted(self._load_options.tags)

    @property
    def model_names(self) -> list[str]:
        return sorted(self._models)

    def set_models(self, models: list[ModelConfig]) -> None:
        """Replaces the model list (a config reload); models no longer listed are
        unloaded at the next `poll`, new ones loaded. Waits for a poll in progress,
        so a reload never races an unload. Raises ConfigError, changing nothing, for a
        platform change or a label on a version that is not AVAILABLE (TF Serving's
        rules, serving/config_rules.py)."""
        with self._poll_lock, self._lock:
            check_platforms_unchanged(list(self._models.values()), models)
            available = {name: {v for v, s in states.items() if s.state == "AVAILABLE"}
                         for name, states in self._states.items()}
            labels = {name: dict(m.version_labels) for name, m in self._models.items()}
            check_labels(models, available, labels, self._allow_labels_for_unavailable)
            self._models = {m.name: m for m in models}
            for name in self._models:
                self._servables.setdefault(name, {})
                self._states.setdefault(name, {})

    def poll(self) -> None:
        """Brings every model in line with its folder and version policy: loads new
        versions, then unloads versions the policy no longer wants, but only once a
        wanted version is available, so a bad new version leaves the old one serving.
        Load failures are recorded in the status, and a model whose folder cannot be
        read is skipped with a log line: neither ever stops other models."""
        with self._poll_lock:
            with self._lock:
                models = dict(self._models)
                removed = [name for name in self._servables if name not in models]
            for name in removed:
                self._unload_all(name)
            for model in models.values():
                try:
                    self._poll_model(model)
                except (OSError, UnicodeError) as e:
                    logger.error("model %s: cannot read %s (%s); its versions stay as they "
                                 "are until it can be read", model.name, model.base_path, e)

    async def poll_off_loop(self) -> None:
        """`poll` on a daemon thread of its own, awaited from the event loop: a poll
        held up by storage never holds up the loop, nor the process's exit (as a
        thread of asyncio's default executor would)."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def poll() -> None:
            try:
                self.poll()
            except BaseException as e:  # noqa: BLE001 - handed to the awaiting task
                loop.call_soon_threadsafe(_settle, done, e)
            else:
                loop.call_soon_threadsafe(_settle, done, None)

        threading.Thread(target=poll, name="poll", daemon=True).start()
        await done

    def _poll_model(self, model: ModelConfig) -> None:
        base = Path(model.base_path)
        folders = version_folders(base) if base.is_dir() else {}
        if not folders and not self._servables[model.name]:
            logger.warning("model %s: no version folders under %s", model.name, base)
        wanted = select_versions(list(folders), model)
        for version in wanted:
            path = base / folders[version]
            if (version not in self._servables[model.name]
                    and (model.name, version) not in self._pending
                    and self._should_try(model.name, version, path)):
                self._load(model.name, version, path)
        loaded = self._servables[model.name]
        if any(version in loaded for version in wanted):
            for version in [v for v in loaded if v not in wanted]:
                self._unload(model.name, version)

    def _should_try(self, name: str, version: int, path: Path) -> bool:
        """A failed version is retried `max_retries` times, each once the retry
        interval has passed, and again whenever any of its files change."""
        failure = self._failures.get((name, version))
        if failure is None or failure.fingerprint != fingerprint(path):
            return True
        due = time.monotonic() - failure.at >= self._policy.retry_interval_seconds
        return due and failure.attempts <= self._policy.max_retries

    def _load(self, name: str, version: int, path: Path) -> None:
        """Loads a version on a thread of its own and waits up to `wait_seconds`: a
        load that hangs in storage keeps LOADING and is reported, but holds up
        neither polling nor requests; it serves if it ever ends."""
        self._set_state(name, VersionState(version, "LOADING"))
        before = fingerprint(path)  # before reading: a change during the load is seen
        loader = threading.Thread(target=self._load_now, args=(name, version, path, before),
                                  name=f"load {name} {version}", daemon=True)
        self._pending[(name, version)] = loader
        loader.start()
        loader.join(self._policy.wait_seconds)
        if loader.is_alive():
            logger.error("model %s version %d is still loading from %s after %g s (slow "
                         "or hung storage?); the other models go on, and it serves once "
                         "its load ends", name, version, path, self._policy.wait_seconds)

    def _load_now(self, name: str, version: int, path: Path, before: tuple) -> None:
        started = time.monotonic()
        try:
            options = self._load_options
            servable = load_servable(name, version, path, options)
            warming = time.monotonic()
            if options.warmup and replay_warmup(servable, options.warmup_iterations,
                                                options.check_method_names):
                servable.warmup_seconds = time.monotonic() - warming
            servable.load_seconds = time.monotonic() - started
        except Exception as e:  # noqa: BLE001 - any failure is this version's, not the server's
            self._failed(name, version, path, before, e)
        else:
            self._loaded(name, version, servable)
        finally:
            self._pending.pop((name, version), None)

    def _loaded(self, name: str, version: int, servable: Servable) -> None:
        with self._lock:
            self._failures.pop((name, version), None)
            if name not in self._servables:  # the model left the config meanwhile
                servable.session.close()
                return
            self._servables[name][version] = servable
            self._states[name][version] = VersionState(version, "AVAILABLE")

    def _failed(self, name: str, version: int, path: Path, before: tuple,
                e: Exception) -> None:
        error = e if isinstance(e, ServingError) else FailedPrecondition(
            f"{name} version {version} failed to load from {path}: "
            f"{type(e).__name__}: {e}")
        previous = self._failures.get((name, version))
        attempts = previous.attempts + 1 if previous and previous.fingerprint == before else 1
        self._failures[(name, version)] = _Failure(before, attempts, time.monotonic())
        retries = self._policy.max_retries - attempts + 1
        then = (f"retrying in {self._policy.retry_interval_seconds:g} s ({retries} retries "
                "left), or as soon as its files change") if retries > 0 else (
                "retrying when its files change")
        logger.error("model %s version %d failed to load: %s; %s", name, version, error, then)
        with self._lock:
            if name in self._states:
                self._states[name][version] = VersionState(version, "END", error)

    def _unload(self, name: str, version: int) -> None:
        """Stops handing out the version; requests already holding it finish first,
        since each keeps its own reference until it is done."""
        self._set_state(name, VersionState(version, "UNLOADING"))
        with self._lock:
            self._servables[name].pop(version, None)
        self._set_state(name, VersionState(version, "END"))
        logger.info("unloaded %s version %d", name, version)

    def _unload_all(self, name: str) -> None:
        for version in list(self._servables[name]):
            self._unload(name, version)
        with self._lock:
            del self._servables[name]
            del self._states[name]

    def close(self) -> None:
        """Closes every loaded version's session, which cancels the graphs still
        running in it (at shutdown, once the grace period is over)."""
        with self._lock:
            servables = [s for versions in self._servables.values() for s in versions.values()]
        for servable in servables:
            servable.session.close()

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
                raise Unavailable(f"model {name} has no version loaded; see its status "
                              f"(GET /v1/models/{name}) for why")
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

    def loaded(self, name: str) -> list[Servable]:
        """The versions of `name` being served now."""
        with self._lock:
            return [self._servables[name][v] for v in sorted(self._servables.get(name, {}))]

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


def _settle(future: asyncio.Future, error: BaseException | None) -> None:
    if future.done():  # the awaiting task was cancelled
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def fingerprint(path: Path, max_entries: int = 10_000) -> tuple:
    """What changes when anything in a version folder does: each entry's path, size
    and modification time (the first `max_entries`, so a huge tree costs a bounded
    walk)."""
    entries = []
    for folder, names, files in os.walk(path):
        for entry in sorted([*names, *files]):
            try:
                st = os.stat(os.path.join(folder, entry), follow_symlinks=False)
            except OSError:
                continue
            entries.append((os.path.relpath(os.path.join(folder, entry), path),
                            st.st_size, st.st_mtime_ns))
            if len(entries) >= max_entries:
                return tuple(entries)
    return tuple(entries)
