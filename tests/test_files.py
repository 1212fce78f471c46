"""ocrlab.files: a write that fails leaves the old file or folder as it was, and no temporary
name behind; one that succeeds replaces it whole."""

from __future__ import annotations

import json

import pytest

from ocrlab import files


def names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_failed_file_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "report.json"
    files.write_json(path, {"cer": 0.1})
    with pytest.raises(RuntimeError, match="disk full"), files.atomic_file(path) as tmp:
        tmp.write_text('{"cer": 0.', encoding="utf-8")  # half written
        raise RuntimeError("disk full")
    assert json.loads(path.read_text(encoding="utf-8")) == {"cer": 0.1}
    assert names(tmp_path) == ["report.json"]


def test_writes_create_folders_and_replace_whole_files(tmp_path):
    path = tmp_path / "a" / "b" / "x.txt"
    files.write_text(path, "first, and longer\n")
    files.write_text(path, "second\n")
    assert path.read_text(encoding="utf-8") == "second\n"
    files.write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    files.write_json(path, {"text": "Straße"}, indent=1)
    assert path.read_text(encoding="utf-8") == '{\n "text": "Straße"\n}\n'
    assert names(path.parent) == ["x.txt"]


def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path):
    target = tmp_path / "checkpoint"
    with files.atomic_dir(target) as tmp:
        (tmp / "weights").write_text("v1")
        (tmp / "old-only").write_text("x")
        assert not target.exists(), "nothing at the target before the block ends"
    assert names(target) == ["old-only", "weights"]

    with pytest.raises(KeyboardInterrupt), files.atomic_dir(target) as tmp:
        (tmp / "weights").write_text("v2, cut")
        raise KeyboardInterrupt
    assert (target / "weights").read_text() == "v1"
    assert names(tmp_path) == ["checkpoint"], "the temporary folder is gone"

    with files.atomic_dir(target) as tmp:
        (tmp / "weights").write_text("v2")
    assert names(target) == ["weights"], "the new folder replaces the old one whole"
    assert (target / "weights").read_text() == "v2"
    assert names(tmp_path) == ["checkpoint"], "the old folder moved aside is deleted"
