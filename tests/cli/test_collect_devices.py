"""``dass collect --devices/--precision`` (issue 23): refused up front on a machine that cannot, and a store
never mixes precisions silently."""

import pytest

from dass.cli import main
from dass.cli.collect import check_store_precision
from dass.cli.common import UsageError
from datasets_meta.collector import expand
from datasets_meta.store import SQLiteStore
from datasets_meta.suite import Suite
from distill.records import with_precision

SUITE = """
name = "tiny-precision"
budget = 1
teacher_epochs = 1
students_per_pair = 2
recipes_per_student = 1
replicate_fraction = 0.0

[[groups]]
source = "digits"
classes = ["0-2"]
n_test = 0
teachers = ["cnn-s"]
teachers_per_task = 1
"""


def _one_line_error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "Traceback" not in err
    return err


def test_bf16_and_absent_gpus_are_refused_before_anything_runs(tmp_path, capsys):
    suite, db = tmp_path / "s.toml", tmp_path / "m.db"
    suite.write_text(SUITE)
    assert "precision 'bf16' needs a CUDA device" in _one_line_error(
        capsys, ["collect", "--suite", str(suite), "--db", str(db), "--precision", "bf16"]
    )
    assert "--devices: device '0' is not available" in _one_line_error(
        capsys, ["collect", "--suite", str(suite), "--db", str(db), "--devices", "0"]
    )
    assert not db.exists()


def test_a_store_of_another_precision_is_refused(tmp_path, capsys):
    suite, db = tmp_path / "s.toml", tmp_path / "m.db"
    suite.write_text(SUITE)
    jobs = expand(Suite.load(str(suite)))
    with SQLiteStore(db) as store:
        store.add_jobs([with_precision(j, "bf16") for j in jobs])
        check_store_precision(store, [with_precision(j, "bf16") for j in jobs], str(db))  # the same: fine
        with pytest.raises(UsageError, match=r"already holds this suite's jobs in bf16"):
            check_store_precision(store, jobs, str(db))
    err = _one_line_error(capsys, ["collect", "--suite", str(suite), "--db", str(db)])
    assert err.endswith("collect into another --db, or use --precision bf16")
    with SQLiteStore(db, writer=False) as store:
        assert store.counts()["pending"] == len(jobs)  # nothing lost, nothing trained
