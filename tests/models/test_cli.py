"""`tfstack train`: flags, profiles and config defaults combine as documented."""

from __future__ import annotations

import argparse

import pytest

from models import cli
from models.qa.config import QATrainConfig
from models.translation.config import PROFILES, TranslatorTrainConfig


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["train", *argv])


def _translator(*argv: str) -> TranslatorTrainConfig:
    return cli.training_config(_parse("translator", *argv), TranslatorTrainConfig, PROFILES)


def test_profile_without_a_size_keeps_the_config_default():
    config = _translator("--profile", "full")
    assert config.units == TranslatorTrainConfig().units
    assert config.epochs == PROFILES["full"]["epochs"]
    assert not config.lexicon and _translator("--lexicon").lexicon


def test_flags_override_the_profile():
    config = _translator("--profile", "quick", "--units", "32", "--epochs", "2")
    assert (config.units, config.epochs, config.lexicon) == (32, 2, False)
    assert config.embedding_dim == PROFILES["quick"]["embedding_dim"]


def test_regularisers_follow_the_profile_unless_given():
    full, quick = _translator("--profile", "full"), _translator("--profile", "quick")
    assert full.word_dropout == TranslatorTrainConfig().word_dropout > 0
    assert full.label_smoothing == TranslatorTrainConfig().label_smoothing > 0
    assert quick.word_dropout == quick.label_smoothing == 0
    given = _translator("--profile", "quick", "--word-dropout", "0.2", "--label-smoothing", "0.3")
    assert (given.word_dropout, given.label_smoothing) == (0.2, 0.3)
    assert _translator("--profile", "full", "--word-dropout", "0").word_dropout == 0


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_every_qa_profile_gives_a_complete_config(profile):
    from models.qa.config import PROFILES as QA_PROFILES

    config = cli.training_config(_parse("qa", "--profile", profile), QATrainConfig, QA_PROFILES)
    assert config.tasks == QA_PROFILES[profile]["tasks"]
    assert config.units == QATrainConfig().units


def test_entity_permutation_is_reachable_from_the_command_line():
    from models.qa.config import PROFILES as QA_PROFILES

    def qa(*argv: str) -> QATrainConfig:
        return cli.training_config(_parse("qa", *argv), QATrainConfig, QA_PROFILES)

    assert qa().permute_entities == QATrainConfig().permute_entities
    assert qa("--permute-entities").permute_entities
    assert not qa("--no-permute-entities").permute_entities


def test_memory_read_and_update_are_reachable_from_the_command_line():
    from models.qa.config import PROFILES as QA_PROFILES

    config = cli.training_config(_parse("qa", "--episode", "sum", "--update", "add"),
                                 QATrainConfig, QA_PROFILES)
    assert (config.episode, config.update) == ("sum", "add")
    with pytest.raises(SystemExit):
        _parse("qa", "--episode", "lstm")


def test_restarts_are_reachable_from_the_command_line():
    from models.qa.config import PROFILES as QA_PROFILES

    config = cli.training_config(_parse("qa", "--restarts", "3"), QATrainConfig, QA_PROFILES)
    assert config.restarts == 3
    assert cli.training_config(_parse("qa"), QATrainConfig, QA_PROFILES).restarts == 1


@pytest.mark.parametrize("model", ["classifier", "qa", "translator"])
def test_every_profile_setting_holds_unless_a_flag_is_given(model):
    from models.qa.config import PROFILES as QA_PROFILES
    from models.vision.config import PROFILES as VISION_PROFILES
    from models.vision.config import ClassifierTrainConfig

    config_class, profiles = {"classifier": (ClassifierTrainConfig, VISION_PROFILES),
                              "qa": (QATrainConfig, QA_PROFILES),
                              "translator": (TranslatorTrainConfig, PROFILES)}[model]
    for name, settings in profiles.items():
        config = cli.training_config(_parse(model, "--profile", name), config_class, profiles)
        assert {k: getattr(config, k) for k in settings} == settings, name


def test_flags_given_win_over_the_qa_full_profile():
    from models.qa.config import PROFILES as QA_PROFILES

    config = cli.training_config(
        _parse("qa", "--profile", "full", "--update", "relu", "--no-permute-entities",
               "--restarts", "1", "--patience", "5"), QATrainConfig, QA_PROFILES)
    assert (config.update, config.permute_entities, config.restarts, config.patience) == \
        ("relu", False, 1, 5)
    assert QA_PROFILES["full"]["update"] != "relu" and QA_PROFILES["full"]["patience"] != 5
    assert config.episode == QA_PROFILES["full"]["episode"]


def test_augmentation_follows_the_classifier_profile_unless_given():
    from models.vision.config import PROFILES as VISION_PROFILES
    from models.vision.config import ClassifierTrainConfig

    def augment(*flags: str) -> bool:
        return cli.training_config(_parse("classifier", *flags), ClassifierTrainConfig,
                                   VISION_PROFILES).augment

    assert (augment("--profile", "quick"), augment("--profile", "full")) == (False, True)
    assert augment("--profile", "quick", "--augment") is True
    assert augment("--profile", "full", "--no-augment") is False


def test_no_profile_trains_against_the_clock():
    from models.qa.config import PROFILES as QA_PROFILES
    from models.vision.config import PROFILES as VISION_PROFILES

    for profiles in (PROFILES, QA_PROFILES, VISION_PROFILES):
        assert all("max_minutes" not in settings for settings in profiles.values())
    for name in PROFILES:
        assert _translator("--profile", name).max_minutes is None
        assert _translator("--profile", name, "--max-minutes", "5").max_minutes == 5.0


def test_the_result_line_says_what_max_minutes_did():
    assert cli._budget_note(None) == ""
    stopped = {"max_minutes": 5.0, "stopped_training": True, "after_epochs": 1}
    assert cli._budget_note(stopped) == " (--max-minutes 5 stopped training after epoch 1)"
    assert cli._budget_note({**stopped, "stopped_training": False, "after_epochs": None}) \
        == " (--max-minutes 5 did not stop training)"


@pytest.mark.parametrize("model", ["translator", "qa", "classifier"])
def test_every_model_trains_the_quick_profile_unless_told(model):
    """One default for all three, as `make up` trains; `full` is one flag away."""
    assert _parse(model).profile == "quick"
    assert _parse(model, "--profile", "full").profile == "full"
