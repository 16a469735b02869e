"""`tfstack train MODEL` prints its result once, on stdout; the logger carries logs, not
results. A tiny training of each model through the command, its whole output read."""

from __future__ import annotations

import re

import pytest

from models.translation import tatoeba
from tests.models.command import run_tfstack

TRAININGS = {
    "classifier": pytest.param(
        ("classifier", "--profile", "quick", "--preset", "tiny", "--epochs", "1",
         "--limit", "256"), r"test accuracy \d\.\d{4} after 1 epochs",
        marks=pytest.mark.fashion),
    "qa": pytest.param(
        ("qa", "--profile", "quick", "--epochs", "1", "--units", "8"),
        r"test accuracy \d\.\d{3}", marks=pytest.mark.babi),
    "translator": pytest.param(
        ("translator", "--profile", "quick", "--epochs", "1", "--units", "8",
         "--limit", "300", "--max-vocabulary", "200", "--max-minutes", "60"),
        r"test BLEU \d+\.\d \(beam\).* 1 epochs in \d+ s \(--max-minutes 60 did not stop "
        r"training\)"),
}


@pytest.mark.parametrize(("argv", "result"), TRAININGS.values(), ids=TRAININGS.keys())
def test_the_result_is_printed_once(argv, result, tmp_path):
    if argv[0] == "translator":
        try:
            tatoeba.locate(download=False)  # never downloads in tests
        except FileNotFoundError:
            pytest.skip("the Tatoeba pairs are not in ../shared/data/tatoeba")
    run = run_tfstack("train", *argv, "--output-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert run.returncode == 0, run.stdout
    assert len(re.findall(result, run.stdout)) == 1, run.stdout
    assert (tmp_path / "out" / "metrics.json").is_file()
