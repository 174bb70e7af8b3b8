"""`ltr-cos data convert|synth|fetch|info`: printed figures, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ltr_cos.commands.data import main
from ltr_cos.data.convert import is_complete


def test_convert_mq2008_parts_prints_totals(shared_real, tmp_path, capsys):
    files = [str(shared_real / "mq2008" / f"S{i}.txt") for i in range(1, 6)]
    assert main(["convert", *files, "--out", str(tmp_path / "mq"), "--objectives", "mq2008", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "train: 15,211 rows, 784 queries" in out
    assert "total: 15,211 rows, 784 queries, 46 features" in out
    assert is_complete(tmp_path / "mq")


def test_convert_folder_with_fold(shared_real, tmp_path, capsys):
    assert main(["convert", str(shared_real / "mq2008"), "--fold", "2", "--out", str(tmp_path / "f2"),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "fold 2: train = S2+S3+S4; vali = S5; test = S1" in out
    assert "vali: 2,874 rows, 156 queries" in out and "test: 2,933 rows, 157 queries" in out
    assert "total: 15,211 rows, 784 queries, 46 features" in out


def _tiny(tmp_path):
    (tmp_path / "a_train.txt").write_text("1 qid:1 1:1 2:3\n0 qid:1 1:2\n2 qid:2 2:1\n")
    (tmp_path / "a_test.txt").write_text("1 qid:5 1:1\n0 qid:5 2:2\n")
    return tmp_path / "a_train.txt", tmp_path / "a_test.txt"


def test_convert_named_splits_and_info(tmp_path, capsys):
    train, test = _tiny(tmp_path)
    assert main(["convert", "--train", str(train), "--test", str(test), "--out", str(tmp_path / "ds"),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "train: 3 rows, 2 queries" in out and "test: 2 rows, 1 queries" in out
    assert main(["info", str(tmp_path / "ds")]) == 0
    out = capsys.readouterr().out
    assert "objectives: relevance (label, raw)" in out and "total: 5 rows, 3 queries, 2 features" in out
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    assert meta["splits"]["test"]["rows"] == 2


def test_bad_row_is_one_line_error_with_exit_2(tmp_path, capsys):
    train, _ = _tiny(tmp_path)
    train.write_text(train.read_text() + "1 qid:3 1:nan\n")
    assert main(["convert", str(train), "--out", str(tmp_path / "ds"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ltr-cos: error: {train}:4: ") and "not a finite number" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize(
    "argv, words",
    [
        (["convert", "--out", "X"], "no input files"),
        (["convert", "missing.txt", "--out", "X"], "missing.txt: file not found"),
        (["info", "nowhere"], "not a complete dataset folder"),
        (["fetch", "nope", "--out", "X"], "unknown dataset 'nope'"),
        (["convert", "a_train.txt", "--out", "X", "--objectives", "nope"], "unknown objectives preset"),
    ],
)
def test_errors_exit_2(tmp_path, capsys, monkeypatch, argv, words):
    _tiny(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("ltr-cos: error: ") and words in err


def test_usage_error_and_help(capsys):
    assert main(["convert"]) == 2  # --out missing: argparse's usage message
    assert "--out" in capsys.readouterr().err
    assert main(["-h"]) == 0
    assert "convert" in capsys.readouterr().out


def test_synth_then_convert(tmp_path, capsys):
    pytest.importorskip("ltr_cos.data.synthetic")
    out = tmp_path / "synth.txt"
    assert main(["synth", "--preset", "mslr-web30k", "--queries", "12", "--seed", "3", "--out", str(out),
                 "--docs-per-query", "5", "9"]) == 0
    text = capsys.readouterr().out
    assert "12 queries" in text and f"wrote {out}" in text
    assert main(["convert", str(out), "--out", str(tmp_path / "ds"), "--objectives", "mslr", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "12 queries, 136 features (131 model inputs" in text


def test_entry_point_runs_as_a_program(tmp_path):
    train, _ = _tiny(tmp_path)
    result = subprocess.run([sys.executable, "-m", "ltr_cos.cli", "data", "convert", str(train), "--out",
                             str(tmp_path / "ds")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "train: 3 rows, 2 queries" in result.stdout
    result = subprocess.run([sys.executable, "-m", "ltr_cos.cli", "data", "convert", str(train), "--out",
                             str(tmp_path / "ds")], capture_output=True, text=True, check=False)
    assert result.returncode == 2 and result.stderr.startswith("ltr-cos: error: ")


def test_fetch_command_against_local_server(tmp_path, capsys):
    import hashlib
    import io
    import zipfile

    import numpy as np

    from tests.data.test_fetch import _mslr_rows, _Server

    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k in (1, 2):
            zf.writestr(f"MSLR-WEB10K/Fold{k}/train.txt", _mslr_rows(rng, 1, 3))
            zf.writestr(f"MSLR-WEB10K/Fold{k}/test.txt", _mslr_rows(rng, 50, 1))
    payload = buf.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    with _Server(payload, drop_first=True) as server:
        code = main(["fetch", "mslr-web10k", "--out", str(tmp_path / "ds"), "--url", server.url, "--sha256", digest,
                     "--fold", "2", "--cache", str(tmp_path / "cache"), "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert f"sha256 {digest} (given)" in out and "Fold2" in out
    assert "total: 16 rows, 4 queries, 136 features" in out
    with _Server(payload) as server:
        code = main(["fetch", "mslr-web10k", "--out", str(tmp_path / "ds2"), "--url", server.url, "--sha256", "0" * 64,
                     "--cache", str(tmp_path / "cache2"), "--no-progress"])
    assert code == 2
    assert "checksum mismatch" in capsys.readouterr().err
    assert not (tmp_path / "ds2").exists()
