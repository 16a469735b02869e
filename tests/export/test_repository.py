"""Versioned, atomic writes into the model repository."""

from __future__ import annotations

import pytest

from export.repository import has_version, versions, write_version


def write_pb(path):
    path.mkdir(parents=True)
    (path / "saved_model.pb").write_bytes(b"pb")


def test_versions_count_up_from_one_and_ignore_other_folders(tmp_path):
    root = tmp_path / "classifier"
    assert write_version(root, write_pb)[0] == 1
    (root / "notes").mkdir()
    (root / "10x").mkdir()
    assert write_version(root, write_pb) == (2, root / "2")
    assert versions(root) == [1, 2]
    assert has_version(root)


def test_folders_str_isdigit_takes_for_digits_are_no_versions(tmp_path):
    """TF Serving reads version folders as ASCII integers
    (sources/storage_path/file_system_storage_path_source.cc)."""
    for odd in ("\u00b2", "\u0663"):  # "²" made int() raise; "٣" was taken as 3
        write_pb(tmp_path / odd)
    assert versions(tmp_path) == [] and not has_version(tmp_path)
    write_pb(tmp_path / "007")
    assert versions(tmp_path) == [7] and has_version(tmp_path)  # found under its name
    assert write_version(tmp_path, write_pb)[0] == 8


def test_next_version_follows_the_highest(tmp_path):
    (tmp_path / "7").mkdir()
    assert write_version(tmp_path, write_pb)[0] == 8


def test_failed_write_leaves_no_version_and_no_staging(tmp_path):
    def broken(path):
        write_pb(path)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_version(tmp_path, broken)
    assert list(tmp_path.iterdir()) == []
    assert not has_version(tmp_path)


def test_empty_version_folder_is_not_a_version(tmp_path):
    (tmp_path / "1").mkdir()
    assert versions(tmp_path) == [1]
    assert not has_version(tmp_path)
