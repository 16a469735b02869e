"""The translator's profiles train a fixed number of epochs, whatever the clock says:
the same command and seed give the same training on a busy machine or a quiet one.
The clock here jumps ten minutes at each reading (nothing sleeps), which would cut any
wall-clock budget after its first batch."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import pytest

from models import cli
from models.translation import tatoeba
from models.translation.config import PROFILES, TranslatorTrainConfig
from models.translation.trainer import train_translator

# Tiny sizes: a few hundred real Tatoeba pairs and a few units, so a run takes seconds.
TINY = ("--limit", "400", "--units", "8", "--max-vocabulary", "200", "--seed", "1337")


class SlowClock:
    """Ten minutes pass at each reading: a machine a great deal slower than this one."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 600.0
        return self.now


@pytest.fixture(autouse=True)
def _tatoeba():
    try:
        tatoeba.locate(download=False)
    except FileNotFoundError:
        pytest.skip("the Tatoeba pairs are not in ../shared/data/tatoeba")


def _config(tmp_path, *argv: str) -> TranslatorTrainConfig:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "translator", *TINY, "--output-dir", str(tmp_path),
                              *argv])
    config = cli.training_config(args, TranslatorTrainConfig, PROFILES)
    return replace(config, embedding_dim=8, verbose=0)


# The quick profile (what `make up` trains); that no profile sets a clock budget, the
# full one included, is tests/models/test_cli.py's.
@pytest.mark.parametrize("profile", ["quick"])
def test_a_profile_trains_all_its_epochs_on_a_slow_clock(profile, tmp_path):
    result = train_translator(_config(tmp_path, "--profile", profile), clock=SlowClock())
    assert result.epochs_run == PROFILES[profile]["epochs"]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert len(metrics["history"]["loss"]) == PROFILES[profile]["epochs"]
    assert metrics["time_budget"] is None and metrics["config"]["max_minutes"] is None


def test_max_minutes_asked_for_reads_the_clock_and_says_it_stopped(tmp_path):
    config = _config(tmp_path, "--profile", "quick", "--max-minutes", "5")
    result = train_translator(config, clock=SlowClock())
    assert result.epochs_run == 1 < PROFILES["quick"]["epochs"]
    budget = {"max_minutes": 5.0, "stopped_training": True, "after_epochs": 1}
    assert result.time_budget == budget
    assert json.loads((tmp_path / "metrics.json").read_text())["time_budget"] == budget
