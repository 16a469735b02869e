"""Fixtures shared across the suite: a tiny classifier trained on real Fashion-MNIST,
its exported repository, and the real server running on it."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import pytest  # noqa: E402

from tests.launcher import ServerProcess  # noqa: E402

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
TRANS_FILE = "/usr/share/trans/de-en"


def _has_babi() -> bool:
    from models.qa.babi import locate_babi

    try:
        return bool(locate_babi(download=False))  # never downloads in tests
    except FileNotFoundError:
        return False


def pytest_collection_modifyitems(config, items):
    missing = {
        "fashion": None if os.path.isdir(FASHION_DIR)
        else "needs `apt-get install dataset-fashion-mnist`",
        "babi": None if _has_babi() else "needs the bAbI tasks in ../shared/data/babi/en",
        "trans": None if os.path.isfile(TRANS_FILE) else "needs `apt-get install trans-de-en`",
    }
    for item in items:
        for marker, reason in missing.items():
            if reason and marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


def pytest_configure(config):
    config.addinivalue_line("markers", "fashion: reads the real Fashion-MNIST files")
    config.addinivalue_line("markers", "babi: reads the real bAbI task files")
    config.addinivalue_line("markers", "trans: reads the real Ding de-en dictionary")


@pytest.fixture(scope="session")
def trained_classifier(tmp_path_factory):
    """A small classifier trained briefly on a seeded slice of the real training set;
    evaluated on a slice of the official test set it never saw."""
    from models.vision.config import ClassifierTrainConfig
    from models.vision.trainer import train_classifier

    config = ClassifierTrainConfig(
        epochs=3, limit=8000, validation_size=1000, augment=False, verbose=0,
        output_dir=str(tmp_path_factory.mktemp("classifier")),
    )
    return train_classifier(config)


@pytest.fixture(scope="session")
def classifier_repository(trained_classifier, tmp_path_factory):
    """A model repository holding the trained classifier as version 1."""
    from export.classifier import export_classifier

    repository = tmp_path_factory.mktemp("model_repository")
    export_classifier(trained_classifier.model_dir, repository)
    return repository


@pytest.fixture(scope="session")
def classifier_server(classifier_repository):
    """`tfstack serve` as a subprocess on a free loopback port, serving the classifier."""
    with ServerProcess(
        "--model_name=classifier", f"--model_base_path={classifier_repository / 'classifier'}"
    ) as server:
        yield server


@pytest.fixture(scope="session")
def fashion_test_images():
    """The first 200 official Fashion-MNIST test images and labels (held out from training)."""
    from models.vision import fashion_mnist

    _, (images, labels) = fashion_mnist.load()
    return images[:200], labels[:200]


@pytest.fixture(scope="session")
def trained_qa(tmp_path_factory):
    """A DMN+ trained briefly (seeded) on bAbI task 1's real training file."""
    from models.qa.config import QATrainConfig
    from models.qa.trainer import train_qa

    return train_qa(QATrainConfig(tasks="1", epochs=25, verbose=0,
                                  output_dir=str(tmp_path_factory.mktemp("qa"))))


@pytest.fixture(scope="session")
def qa_repository(trained_qa, tmp_path_factory):
    """A model repository holding the trained QA model as version 1."""
    from export.qa import export_qa

    repository = tmp_path_factory.mktemp("qa_repository")
    export_qa(trained_qa.model_dir, repository)
    return repository


TINY_TRANSLATOR = dict(limit=400, lexicon=False, max_train_words=6, units=96, embedding_dim=64,
                       dropout=0.0, word_dropout=0.0, label_smoothing=0.0, epochs=50,
                       patience=0, learning_rate=6e-3, batch_size=8, verbose=0)


@pytest.fixture(scope="session")
def trained_translator(tmp_path_factory):
    """A tiny translator trained (seeded) on the short pairs among the first 400
    sentence pairs of the real Ding dictionary: enough to memorise them."""
    from models.translation.config import TranslatorTrainConfig
    from models.translation.trainer import train_translator

    return train_translator(TranslatorTrainConfig(
        **TINY_TRANSLATOR, output_dir=str(tmp_path_factory.mktemp("translator"))))


@pytest.fixture(scope="session")
def trained_subword_translator(tmp_path_factory):
    """The tiny translator on WordPiece subwords (300 a language), briefly trained: for
    what the graph does with pieces, not for its translations."""
    from models.translation.config import TranslatorTrainConfig
    from models.translation.trainer import train_translator

    settings = {**TINY_TRANSLATOR, "epochs": 3, "subwords": True, "max_vocabulary": 300}
    return train_translator(TranslatorTrainConfig(
        **settings, output_dir=str(tmp_path_factory.mktemp("subword_translator"))))


@pytest.fixture(scope="session")
def translator_training_pairs():
    """Short training pairs of the tiny translator whose source has one translation."""
    from collections import Counter

    from models.translation.corpus import load_pairs, split_pairs

    train = split_pairs(load_pairs()[: TINY_TRANSLATOR["limit"]])["train"]
    sources = Counter(p.source for p in train)
    return [p for p in train if sources[p.source] == 1
            and max(len(p.source.split()), len(p.target.split())) <= 4]


@pytest.fixture(scope="session")
def translator_repository(trained_translator, tmp_path_factory):
    """A model repository holding the tiny translator as version 1."""
    from export.translator import export_translator

    repository = tmp_path_factory.mktemp("translator_repository")
    export_translator(trained_translator.model_dir, repository)
    return repository


@pytest.fixture(scope="session")
def subword_translator_repository(trained_subword_translator, tmp_path_factory):
    """A model repository holding the tiny subword translator as version 1."""
    from export.translator import export_translator

    repository = tmp_path_factory.mktemp("subword_translator_repository")
    export_translator(trained_subword_translator.model_dir, repository)
    return repository
