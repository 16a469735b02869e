"""A first run without the data and without the network: `tfstack train MODEL` ends
with exit status 1 and one message naming each place searched, what the download failed
on and how to fix it, and no traceback unless `-v`. The downloads go to a closed
loopback port or to file:// mirrors; the Debian and shared data folders are replaced
by absent ones, HOME and the working folder are empty."""

from __future__ import annotations

import gzip

import pytest

from models.vision import fashion_mnist
from tests.models.command import run_tfstack
from tests.models.test_downloads import closed_port


@pytest.fixture
def machine(tmp_path):
    """An empty HOME and working folder, no $TFSTACK_DATA_DIR."""
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    return tmp_path


def _train(machine, *argv: str, settings: dict, data_dir=None):
    return run_tfstack(*argv, "--output-dir", str(machine / "out"), cwd=machine / "work",
                       env={"HOME": str(machine / "home"),
                            "TFSTACK_DATA_DIR": str(data_dir) if data_dir else None},
                       settings=settings)


def _assert_one_message(run, places: list, *says: str) -> str:
    """Exit status 1, one error message holding each place in order and each of
    `says`, and no traceback; returns the message."""
    assert run.returncode == 1, run.stdout
    assert "Traceback" not in run.stdout
    assert run.stdout.count("error: ") == 1
    message = run.stdout[run.stdout.index("error: "):]
    positions = [message.index(f"\n  {place}") for place in places]
    assert positions == sorted(positions)
    for text in says:
        assert text in message
    return message


def test_classifier_with_no_data_and_no_network(machine):
    port = closed_port()
    absent = machine / "no-debian-package"
    run = _train(machine, "train", "classifier", "--profile", "quick", settings={
        "models.vision.fashion_mnist": {"SYSTEM_DIR": absent,
                                        "OFFICIAL_URL": f"http://127.0.0.1:{port}/"}})
    cache = machine / "home" / ".cache" / "tfstack" / "fashion-mnist"
    _assert_one_message(
        run, [absent, cache], "Fashion-MNIST not found",
        f"127.0.0.1:{port}: Connection refused", "apt-get install dataset-fashion-mnist",
        f"  {absent} (absent)", f"put them in {cache}", "--source FOLDER", "TFSTACK_DATA_DIR")


def test_a_mirror_with_a_wrong_file_fails_its_checksum_and_v_shows_the_traceback(machine):
    mirror, data_dir = machine / "mirror", machine / "data"
    mirror.mkdir()
    data_dir.mkdir()
    name = fashion_mnist.FILES["train_images"][0]
    (mirror / name).write_bytes(gzip.compress(b"not Fashion-MNIST"))
    absent = machine / "no-debian-package"
    settings = {"models.vision.fashion_mnist": {"SYSTEM_DIR": absent,
                                                "OFFICIAL_URL": mirror.as_uri()}}
    argv = ("train", "classifier", "--profile", "quick")
    run = _train(machine, *argv, settings=settings, data_dir=data_dir)
    _assert_one_message(run, [data_dir / "fashion-mnist", absent],
                        f"checksum mismatch for {name}")
    verbose = _train(machine, "-v", *argv, settings=settings, data_dir=data_dir)
    assert verbose.returncode == 1 and "Traceback" in verbose.stdout
    assert "error: Fashion-MNIST not found" in verbose.stdout


def test_translator_with_no_data_and_a_missing_mirror(machine):
    url = (machine / "mirror" / "deu-eng.zip").as_uri()
    run = _train(machine, "train", "translator", "--profile", "quick", settings={
        "models.translation.tatoeba": {"SHARED_DIRS": [], "OFFICIAL_URL": url}})
    cache = machine / "home" / ".cache" / "tfstack" / "tatoeba"
    _assert_one_message(run, [cache], "The Tatoeba pairs not found",
                        f"downloading {url} failed: No such file or directory",
                        "--data FILE", "TFSTACK_DATA_DIR")


def test_qa_with_no_data_and_a_corrupt_mirror(machine):
    mirror = machine / "mirror" / "tasks_1-20_v1-2.tar.gz"
    mirror.parent.mkdir()
    mirror.write_bytes(b"not an archive")
    explicit = machine / "mine"
    run = _train(machine, "train", "qa", "--data", str(explicit), settings={
        "models.qa.babi": {"SHARED_DIRS": []},
        "models.qa.babi_download": {"OFFICIAL_URL": mirror.as_uri()}})
    cache = machine / "home" / ".cache" / "tfstack" / "babi" / "en"
    _assert_one_message(run, [explicit, cache], "The bAbI tasks not found",
                        "the download is not a complete tasks_1-20_v1-2.tar.gz",
                        "--data FOLDER", "TFSTACK_DATA_DIR")
