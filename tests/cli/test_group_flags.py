"""``--group N`` of ``dass collect`` and ``dass search``: how many jobs a worker trains together.

The records do not depend on it (a collection with ``--group 3`` stores the records of one without, timings
aside); a bad group is a one-line error with exit 2; ``dass search --group`` sets the rungs' group for its run only.
"""

import pytest

from dass.cli import collect as collect_cli
from dass.cli import main
from datasets_meta.store import SQLiteStore
from distill.executors import GROUP_ENV, InProcessExecutor

SUITE = """
name = "tiny-group"
budget = 1
teacher_epochs = 1
students_per_pair = 2
recipes_per_student = 1
label_seeds = 2
replicate_fraction = 0.0

[[groups]]
source = "digits"
classes = ["0-2"]
n_test = 0
teachers = ["cnn-s"]
teachers_per_task = 1
"""
TIMINGS = ("created_at", "started_at", "finished_at", "heartbeat_at", "train_time_s")


@pytest.fixture(autouse=True)
def _no_group_from_the_environment(monkeypatch):
    monkeypatch.delenv(GROUP_ENV, raising=False)
    monkeypatch.setenv("DASS_PROGRESS_INTERVAL", "3600")


def _records(db) -> dict:
    with SQLiteStore(db, writer=False) as store:
        out = {}
        for r in store.records(status=None):
            r = {k: v for k, v in r.items() if k not in TIMINGS}
            r["extra"] = {k: v for k, v in (r["extra"] or {}).items() if k != "job_time_s"}
            out[(r["genome_hash"], r["seed"])] = r
        return out


def test_collect_with_a_group_stores_the_records_of_one_job_at_a_time(tmp_path, monkeypatch):
    suite = tmp_path / "tiny.toml"
    suite.write_text(SUITE)
    sent: list[int] = []

    class Recording(InProcessExecutor):
        def submit(self, fn, payload):
            sent.append(len(payload) if isinstance(payload, list) else 1)
            return super().submit(fn, payload)

    monkeypatch.setattr(collect_cli, "PoolExecutor", lambda workers, data_dir: Recording(data_dir))
    assert main(["collect", "--suite", str(suite), "--db", str(tmp_path / "one.db")]) == 0
    assert set(sent) == {1} and len(sent) == 8  # 2 students x (control + recipe) x 2 label seeds
    sent.clear()
    assert main(["collect", "--suite", str(suite), "--db", str(tmp_path / "g.db"), "--group", "4"]) == 0
    assert sent == [4, 4]
    assert _records(tmp_path / "g.db") == _records(tmp_path / "one.db")


def test_a_bad_group_is_one_line_with_exit_2(tmp_path, monkeypatch, capsys):
    suite = tmp_path / "tiny.toml"
    suite.write_text(SUITE)
    with pytest.raises(SystemExit) as e:
        main(["collect", "--suite", str(suite), "--db", str(tmp_path / "m.db"), "--group", "0"])
    assert e.value.code == 2 and "--group" in capsys.readouterr().err
    monkeypatch.setenv(GROUP_ENV, "many")
    assert main(["collect", "--suite", str(suite), "--db", str(tmp_path / "m.db")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "$DASS_GROUP must be a positive integer" in err and "'many'" in err
