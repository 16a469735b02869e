"""`tfstack export` when the disk fills up while TensorFlow writes the SavedModel: one
line saying so and exit status 1, with no version, staging folder or config left."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FILE_SIZE = 100_000  # bytes a file may take: the tiny model's variables need three times that


def tfstack(*args: str, file_size: int | None = None) -> subprocess.CompletedProcess:
    """The `tfstack` command, its files limited to `file_size` bytes if given: a write
    past it fails in the kernel (EFBIG), as one onto a full disk does (ENOSPC)."""
    limit = (f"resource.setrlimit(resource.RLIMIT_FSIZE, ({file_size}, {file_size})); "
             if file_size else "")
    launch = (f"import resource, runpy, sys; {limit}sys.argv[0] = 'tfstack'; "
              "runpy.run_module('tfstack.command', run_name='__main__')")
    return subprocess.run([sys.executable, "-c", launch, *args], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory) -> Path:
    """An untrained tiny classifier, saved as `tfstack train classifier` saves one."""
    from models.vision.alexnet import AlexNetClassifier
    from models.vision.presets import PRESETS
    from models.vision.trainer import LABELS_FILE, MODEL_FILE

    folder = tmp_path_factory.mktemp("tiny_classifier")
    AlexNetClassifier(num_classes=3, **PRESETS["tiny"]).save(folder / MODEL_FILE)
    (folder / LABELS_FILE).write_text("a\nb\nc\n")
    return folder


def test_an_export_onto_a_full_disk_is_one_line_and_leaves_no_version(tiny_classifier,
                                                                       tmp_path):
    repository = tmp_path / "repository"
    args = ("export", "classifier", "--model-dir", str(tiny_classifier),
            "--repository", str(repository))
    failed = tfstack(*args, file_size=FILE_SIZE)
    assert failed.returncode == 1
    assert failed.stderr == (f"error: cannot export classifier to {repository}: File too "
                             "large; no version was added\n")
    assert [p.name for p in repository.rglob("*")] == ["classifier"]  # nothing inside

    again = tfstack(*args)  # room again: the same command writes version 1
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in (repository / "classifier").iterdir()) == ["1"]
    assert (repository / "classifier" / "1" / "saved_model.pb").is_file()
