"""Finding and downloading Fashion-MNIST, tested against local copies of the real files."""

from __future__ import annotations

import shutil

import pytest

from models.vision import fashion_mnist
from tests.conftest import FASHION_DIR

pytestmark = pytest.mark.fashion


@pytest.fixture
def mirror(tmp_path):
    """A local 'download server' holding the official files, reached by file:// URL."""
    root = tmp_path / "mirror"
    shutil.copytree(FASHION_DIR, root)
    return root


def test_explicit_directory_comes_first(mirror):
    assert fashion_mnist.locate(mirror) == mirror


def test_data_dir_environment_variable_comes_before_system(mirror, monkeypatch, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(mirror, data_dir / "fashion-mnist")
    monkeypatch.setenv("TFSTACK_DATA_DIR", str(data_dir))
    assert fashion_mnist.locate() == data_dir / "fashion-mnist"


def test_system_package_is_found_without_configuration(monkeypatch):
    monkeypatch.delenv("TFSTACK_DATA_DIR", raising=False)
    assert str(fashion_mnist.locate()) == FASHION_DIR


def test_download_verifies_and_lands_all_files(mirror, tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "absent")
    target = tmp_path / "downloaded"
    found = fashion_mnist.locate(download_to=target, url=mirror.as_uri())
    assert found == target
    assert sorted(p.name for p in target.iterdir()) == sorted(
        name for name, _ in fashion_mnist.FILES.values())
    (train_x, train_y), (test_x, _) = fashion_mnist.load(target)
    assert train_x.shape == (60000, 28, 28, 1) and test_x.shape == (10000, 28, 28, 1)
    assert train_y.max() == 9


def test_corrupt_download_is_rejected_and_leaves_nothing(mirror, tmp_path):
    name = fashion_mnist.FILES["train_labels"][0]
    shutil.copy(mirror / fashion_mnist.FILES["test_labels"][0], mirror / name)
    target = tmp_path / "downloaded"
    with pytest.raises(ValueError, match=f"checksum mismatch for {name}"):
        fashion_mnist.download(target, mirror.as_uri())
    assert not (target / name).exists()
    assert not list(target.glob("*.part"))


def test_class_names_follow_label_indices():
    assert len(fashion_mnist.CLASS_NAMES) == 10
    assert fashion_mnist.CLASS_NAMES[0] == "T-shirt/top"
    assert fashion_mnist.CLASS_NAMES[9] == "Ankle boot"
