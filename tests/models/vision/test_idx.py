"""The IDX reader on the real Fashion-MNIST files and on damaged copies."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from models.vision.idx import read_idx
from tests.conftest import FASHION_DIR

pytestmark = pytest.mark.fashion


def test_reads_the_official_test_files():
    images = read_idx(f"{FASHION_DIR}/t10k-images-idx3-ubyte.gz")
    labels = read_idx(f"{FASHION_DIR}/t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,)
    assert np.bincount(labels).tolist() == [1000] * 10  # the test set is balanced
    assert 0 < images.mean() < 255


def test_reads_uncompressed_files(tmp_path):
    raw = gzip.open(f"{FASHION_DIR}/t10k-labels-idx1-ubyte.gz").read()
    (tmp_path / "labels.idx").write_bytes(raw)
    assert read_idx(tmp_path / "labels.idx")[:5].tolist() == [9, 2, 1, 1, 6]


def test_truncated_file_is_reported(tmp_path):
    raw = gzip.open(f"{FASHION_DIR}/t10k-labels-idx1-ubyte.gz").read()
    (tmp_path / "cut.idx").write_bytes(raw[:-10])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "cut.idx")


def test_non_idx_file_is_reported(tmp_path):
    (tmp_path / "x.idx").write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "x.idx")
