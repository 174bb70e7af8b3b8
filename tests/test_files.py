"""The one home of atomic writes: whole or nothing, never a user's other files."""

from __future__ import annotations

import hashlib

import pytest

from ltr_cos.errors import InputError
from ltr_cos.files import atomic_file, atomic_folder, atomic_save, atomic_write_text, sha256_file


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = atomic_write_text(tmp_path / "out.txt", "first")
    with pytest.raises(KeyboardInterrupt), atomic_file(path) as handle:
        handle.write("half of the second")
        raise KeyboardInterrupt
    assert path.read_text() == "first" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_overwrite_is_explicit_for_files(tmp_path):
    path = atomic_write_text(tmp_path / "out.txt", "first")
    with pytest.raises(InputError, match="pass --overwrite"):
        atomic_write_text(path, "second", overwrite=False)
    with pytest.raises(InputError, match="is a folder"):
        atomic_save(tmp_path, lambda tmp: tmp.write_text("x"))
    assert path.read_text() == "first"


def test_a_parent_that_is_a_file_is_named(tmp_path):
    (tmp_path / "file").write_text("mine")
    with pytest.raises(InputError, match="a parent of the output path is a file"):
        atomic_write_text(tmp_path / "file" / "out.txt", "x")
    assert (tmp_path / "file").read_text() == "mine"


def test_folders_are_built_aside_and_replace_only_what_ltr_cos_wrote(tmp_path):
    out = tmp_path / "artifact"
    with atomic_folder(out) as tmp:
        (tmp / "ranker.json").write_text("{}")
    with pytest.raises(InputError, match="pass --overwrite"), atomic_folder(out, marker="ranker.json"):
        pass
    with atomic_folder(out, overwrite=True, marker="ranker.json") as tmp:
        (tmp / "ranker.json").write_text('{"v": 2}')
    assert (out / "ranker.json").read_text() == '{"v": 2}'

    users = tmp_path / "users"
    users.mkdir()
    (users / "thesis.tex").write_text("years of work")
    with pytest.raises(InputError, match="replaces only folders that ltr_cos wrote"), \
            atomic_folder(users, overwrite=True, marker="ranker.json"):
        pass
    assert (users / "thesis.tex").read_text() == "years of work"
    with pytest.raises(RuntimeError), atomic_folder(tmp_path / "never") as tmp:
        (tmp / "part").write_text("x")
        raise RuntimeError
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifact", "users"]


def test_sha256_file_matches_hashlib(tmp_path):
    data = bytes(range(256)) * 5000
    (tmp_path / "blob").write_bytes(data)
    assert sha256_file(tmp_path / "blob", block=1000) == hashlib.sha256(data).hexdigest()
