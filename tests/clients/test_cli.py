"""`tfstack classify` and `tfstack status` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from contract.defaults import TOP_K


def tfstack(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfstack.command", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def image_files(tmp_path_factory, fashion_test_images):
    folder = tmp_path_factory.mktemp("images")
    images, labels = fashion_test_images
    paths = []
    for index, suffix in enumerate((".png", ".jpg", ".bmp", ".gif")):
        path = folder / f"item{index}{suffix}"
        Image.fromarray(images[index, :, :, 0]).save(path)
        paths.append(path)
    return paths, labels[:4]


@pytest.mark.fashion
def test_classify_prints_each_files_labels(classifier_server, image_files):
    paths, _ = image_files
    result = tfstack("classify", *map(str, paths), "--server", classifier_server.target,
                     "--top-k", "2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [str(p) for p in paths]
    assert all(line.count(",") == 1 for line in lines)  # two labels each


@pytest.mark.fashion
def test_classify_json_carries_names_scores_and_ids(classifier_server, image_files):
    paths, labels = image_files
    result = tfstack("classify", *map(str, paths), "--server", classifier_server.target,
                     "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["file"] for row in rows] == [str(p) for p in paths]
    assert all(len(row["labels"]) == TOP_K for row in rows)  # the one default
    top_ids = [row["labels"][0]["class_id"] for row in rows]
    assert all(0 <= i <= 9 for i in top_ids)
    assert sum(i == label for i, label in zip(top_ids, labels, strict=True)) >= 2


@pytest.mark.fashion
def test_status_lists_versions(classifier_server):
    result = tfstack("status", "classifier", "--server", classifier_server.target)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "classifier  version 1  AVAILABLE\n"
    everything = tfstack("status", "--server", classifier_server.target)
    assert everything.returncode == 0, everything.stderr
    assert "classifier  version 1  AVAILABLE" in everything.stdout
    unknown = tfstack("status", "resnet", "--server", classifier_server.target)
    assert unknown.returncode == 1 and "NOT_FOUND" in unknown.stderr


def test_unreachable_server_is_a_clear_error_and_nonzero_exit(tmp_path):
    image = tmp_path / "x.png"
    image.write_bytes(tf.io.encode_png(np.zeros((4, 4, 1), np.uint8)).numpy())
    result = tfstack("classify", str(image), "--server", "127.0.0.1:1", "--deadline", "3")
    assert result.returncode == 1
    assert "cannot reach a model server at 127.0.0.1:1" in result.stderr


def test_missing_file_exits_2_and_names_it(tmp_path):
    result = tfstack("classify", str(tmp_path / "nope.png"))
    assert result.returncode == 2
    assert "nope.png" in result.stderr
