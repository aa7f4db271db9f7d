"""The run directory read back: damaged state, store, costs and clock files; sessions counted when they start."""

import json
import logging

import numpy as np
import pytest

from dass.cli import main
from search.clock import RunClock
from search.state import PREVIOUS_STATE_FILE, STATE_FILE, StateFiles

TASK = "digits:classes=0-4"
TEACHER = ["--teacher", "cnn-s", "--teacher-epochs", "2"]  # the teacher the checkpoint fixture trains and caches
# The smallest NSGA-II search that saves a state: 2 generations of 6, one bracket (2 x 1 epoch, the best x 2).
TINY = ["--generations", "2", "--population", "6", "--rungs", "1,2", "--rung-every", "2", "--rung-size", "2"]
TINY += ["--eta", "2", "--verify", "1", "--max-params", "20000", "--seed", "1", "--device", "cpu", "--no-best"]


def _arrays(generation):
    return {"X": np.full((2, 3), generation, dtype=np.int64)}


def _state(generation):
    return {"generation": generation, "ledger": [[generation]]}


def _two_generations(tmp_path):
    files = StateFiles(tmp_path, "ours", required=("ledger",))
    files.write(_state(1), _arrays(1))
    files.write(_state(2), _arrays(2))
    return files


# ------------------------------------------------------------------------------------------ state files
def test_the_state_keeps_the_previous_checkpoint_and_only_it(tmp_path):
    files = _two_generations(tmp_path)
    files.write(_state(3), _arrays(3))
    assert sorted(p.name for p in tmp_path.glob("state-*.npz")) == ["state-00002.npz", "state-00003.npz"]
    assert json.loads((tmp_path / PREVIOUS_STATE_FILE).read_text())["generation"] == 2
    state, arrays = files.read()
    assert state["generation"] == 3 and (arrays["X"] == 3).all()


@pytest.mark.parametrize("damage", ["truncated npz", "missing npz", "bad json", "not a state"])
def test_a_damaged_state_falls_back_to_the_previous_checkpoint_and_says_so(damage, tmp_path, caplog):
    _two_generations(tmp_path)
    npz, state = tmp_path / "state-00002.npz", tmp_path / STATE_FILE
    damaged = npz if "npz" in damage else state
    if damage == "truncated npz":
        npz.write_bytes(npz.read_bytes()[:100])
    elif damage == "missing npz":
        npz.unlink()
    elif damage == "bad json":
        state.write_text(state.read_text()[:30])
    else:
        state.write_text("[1, 2]")
    files = StateFiles(tmp_path, "ours", required=("ledger",))  # a resumed session's
    with caplog.at_level(logging.WARNING, logger="search.state"):
        restored, arrays = files.read()
    assert restored["generation"] == 1 and (arrays["X"] == 1).all()
    assert str(damaged) in caplog.text and "previous checkpoint (generation 1" in caplog.text

    # the next save does not keep the damaged checkpoint as the previous one
    files.write(_state(2), _arrays(2))
    assert json.loads((tmp_path / PREVIOUS_STATE_FILE).read_text())["generation"] == 1


def test_a_damaged_state_without_a_readable_previous_one_says_what_to_do(tmp_path):
    files = StateFiles(tmp_path, "ours")
    files.write(_state(1), _arrays(1))
    (tmp_path / "state-00001.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError) as e:
        files.read()
    message = str(e.value)
    assert "state-00001.npz cannot be read" in message and f"delete {tmp_path / STATE_FILE}" in message
    assert "new --out" in message and "\n" not in message


def test_a_state_of_another_strategy_is_refused_not_replaced_by_an_older_one(tmp_path):
    _two_generations(tmp_path)
    with pytest.raises(ValueError, match="another dass version or strategy; start a new --out"):
        StateFiles(tmp_path, "uniads").read()


# ------------------------------------------------------------------------------------------ clock
def test_a_session_counts_from_its_start_even_when_it_is_killed_before_saving(tmp_path):
    RunClock(tmp_path).start_session()  # the first session, which then saves as it goes
    RunClock(tmp_path).start_session()  # a resumed session SIGKILLed before its first save: nothing else ran
    assert RunClock(tmp_path).sessions == 3


def test_a_damaged_clock_is_a_warning_not_the_end_of_the_run(tmp_path, caplog):
    (tmp_path / "clock.json").write_text('{"wall_s": 1')
    with caplog.at_level(logging.WARNING, logger="search.clock"):
        clock = RunClock(tmp_path)
    assert clock.sessions == 2 and clock.wall_before == 0.0
    assert "clock.json is not valid JSON" in caplog.text


# ------------------------------------------------------------------------------------------ end to end
def _one_line_error(capsys, code):
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    return err


def test_damaged_run_files_under_resume(checkpoint, tmp_path, capsys, caplog):
    """Each damaged file of a finished run, then --resume: a fallback that says so and gives the same front,
    or one line naming the file and what to do (exit 2); nothing stored is lost."""
    out = tmp_path / "run"
    args = ["search", "--task", TASK, *TEACHER, "--checkpoint", checkpoint, *TINY, "--out", str(out)]
    assert main(args) == 0, capsys.readouterr().err
    capsys.readouterr()
    front = json.loads((out / "front.json").read_text())["front"]
    db = (out / "records.db").read_bytes()
    assert "- strategy: `ours` (dass's own search: NSGA-II scored by" in (out / "report.md").read_text()

    def resumed_front():
        return json.loads((out / "front.json").read_text())["front"]

    # a truncated population: the previous checkpoint, the same front
    npz = out / json.loads((out / STATE_FILE).read_text())["arrays"]
    npz.write_bytes(npz.read_bytes()[:200])
    caplog.clear()
    assert main(["search", "--resume", str(out)]) == 0
    assert f"{npz} cannot be read" in caplog.text and "previous checkpoint" in caplog.text
    assert resumed_front() == front

    # a damaged measured-cost table is computed again (a parameter objective: nothing measured)
    (out / "costs.json").write_text("{")
    caplog.clear()
    assert main(["search", "--resume", str(out)]) == 0
    assert "costs.json is not valid JSON" in caplog.text and resumed_front() == front
    capsys.readouterr()

    # both state files damaged: what to do, on one line
    for name in (STATE_FILE, PREVIOUS_STATE_FILE):
        (out / name).write_text('{"generation": ')
    err = _one_line_error(capsys, main(["search", "--resume", str(out)]))
    assert f"{out / STATE_FILE} is not valid JSON" in err and f"delete {out / STATE_FILE}" in err
    (out / STATE_FILE).unlink()  # as the message says: the search replays from its seed, reading trainings back
    assert main(["search", "--resume", str(out)]) == 0 and resumed_front() == front
    capsys.readouterr()

    # a record store that is not one: about this run, not `--db`, and the file is left as it is
    (out / "records.db").rename(tmp_path / "records.db.good")
    (out / "records.db").write_bytes(b"not a database" * 10)
    err = _one_line_error(capsys, main(["search", "--resume", str(out)]))
    assert "records.db is not a SQLite database" in err and "new --out" in err and "--db" not in err
    assert (out / "records.db").read_bytes() == b"not a database" * 10
    (out / "records.db").unlink()
    (tmp_path / "records.db.good").rename(out / "records.db")
    assert (out / "records.db").read_bytes() != b"" and len(db) > 0


def test_a_killed_session_is_counted(checkpoint, tmp_path, capsys, monkeypatch):
    """A session SIGKILLed before its first save (simulated: it stops without any cleanup) is one of the
    sessions the report counts."""
    import search.context
    import search.loop
    from search.context import SearchRun

    out = tmp_path / "run"
    args = ["search", "--task", TASK, *TEACHER, "--checkpoint", checkpoint, *TINY, "--out", str(out)]
    assert main(args) == 0, capsys.readouterr().err

    class Killed(BaseException):
        pass

    def killed(*args, **kwargs):
        raise Killed

    with monkeypatch.context() as m:  # the second session dies at once, saving nothing on its way out
        m.setattr(search.loop, "run_strategy", killed)
        m.setattr(SearchRun, "_save_costs_and_clock", lambda self: None)
        with pytest.raises(Killed):
            main(["search", "--resume", str(out)])
    with monkeypatch.context() as m:  # the third dies while it loads the task, before the run is under way
        m.setattr(search.context, "load_task", killed)
        with pytest.raises(Killed):
            main(["search", "--resume", str(out)])
    assert main(["search", "--resume", str(out)]) == 0
    assert "over 4 sessions" in (out / "report.md").read_text()


def test_wandb_files_go_to_the_run_directory(tmp_path, monkeypatch, capsys):
    """W&B writes ``<dir>/wandb``: the run directory's, not the working directory's (a stand-in W&B module)."""
    import sys
    import types

    calls = []

    class FakeRun:
        def log(self, data):
            calls.append(("log", sorted(data)))

        def finish(self):
            calls.append(("finish",))

    fake = types.ModuleType("wandb")
    fake.init = lambda **kwargs: calls.append(("init", kwargs)) or FakeRun()
    fake.Table = lambda columns, data: (columns, data)
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "runs" / "r"
    args = ["search", "--task", TASK, *TEACHER, "--strategy", "random", "--rungs", "1", "--max-trainings", "1"]
    assert main([*args, "--max-params", "20000", "--no-best", "--wandb", "--out", str(out)]) == 0
    init = [c[1] for c in calls if c[0] == "init"]
    assert len(init) == 1 and init[0]["dir"] == str(out) and init[0]["project"] == "dass-search"
    assert calls[-1] == ("finish",)
