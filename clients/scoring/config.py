"""The settings of a scoring run, one dataclass per runner: `ScoreConfig` for the
local scorer and `BeamConfig` for `--runner`, sharing `ScoreJob`'s fields (what to
score, where, and how to call the server); each holds only what its runner reads."""

from __future__ import annotations

from dataclasses import dataclass

from clients.channels import ChannelSecurity
from clients.scoring.retrying import RetryPolicy
from contract.defaults import BATCH_SIZE, DEFAULT_TARGET, TOP_K


@dataclass(frozen=True)
class ScoreJob:
    """What both runners read: the endpoint, input and output, and the calls
    (`security`: TLS and bearer token, from `--tls-ca`, `--tls-cert`, `--token-file`...)."""

    model: str
    input: str
    output: str
    server: str = DEFAULT_TARGET
    input_format: str | None = None
    output_format: str | None = None
    column: str | None = None
    id_column: str = "id"
    batch_size: int = BATCH_SIZE
    concurrency: int = 4
    deadline: float = 30.0
    retries: int = 8
    backoff_seconds: float = 0.2
    max_backoff_seconds: float = 10.0
    top_k: int = TOP_K
    security: ChannelSecurity = ChannelSecurity()

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.retries, self.backoff_seconds, self.max_backoff_seconds)


@dataclass(frozen=True)
class ScoreConfig(ScoreJob):
    """A local run (`tfstack score`): resumable, stopped after `max_errors` error
    rows, with a progress bar."""

    max_errors: int | None = None
    resume: bool = False
    progress: bool = True


@dataclass(frozen=True)
class BeamConfig(ScoreJob):
    """A Beam run (`tfstack score --runner RUNNER`): output shards (0: as the runner
    decides; 1: one file in input order), a SavedModel to run in the workers instead
    of calling the server, and Beam's own pipeline options."""

    runner: str = "DirectRunner"
    num_shards: int = 0
    model_path: str | None = None
    pipeline_args: tuple[str, ...] = ()
