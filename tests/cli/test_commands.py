"""The command table of dass/cli/__init__.py: every command reachable from its module, and lazy imports."""

import importlib
import subprocess
import sys

import pytest

from dass.cli import COMMANDS, build_parser, load_commands
from dass.cli.common import Command


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_in_the_table_is_declared_by_its_module(name):
    module, help_ = COMMANDS[name]
    command = load_commands([name])[name]
    assert isinstance(command, Command) and command.name == name and command.help == help_
    assert command.run.__module__ == command.add_arguments.__module__ == f"dass.cli.{module}"
    assert command in importlib.import_module(f"dass.cli.{module}").COMMANDS


def test_every_declared_command_is_in_the_table():
    for module in {module for module, _ in COMMANDS.values()}:
        for command in importlib.import_module(f"dass.cli.{module}").COMMANDS:
            assert COMMANDS.get(command.name, (None,))[0] == module, command.name


def test_the_parser_lists_the_commands_in_table_order():
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    assert list(sub.choices) == list(COMMANDS)
    for name, p in sub.choices.items():
        assert p.get_default("func") is load_commands([name])[name].run


def imported_after(argv):
    """The modules imported by ``dass ARGV`` in a fresh interpreter."""
    code = (
        "import sys\n"
        "from dass.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stdout.split("\n")[-2].split())


def test_help_and_version_import_no_command_module_and_no_torch():
    for argv in (["--help"], ["--version"]):
        modules = imported_after(argv)
        assert "torch" not in modules and "numpy" not in modules, argv
        assert {m for m in modules if m.startswith("dass.cli.")} == {"dass.cli.common"}, argv


def test_a_command_imports_only_its_own_module():
    modules = imported_after(["tasks"])
    assert {m for m in modules if m.startswith("dass.cli.")} == {"dass.cli.common", "dass.cli.tasks"}
    assert "search" not in modules and "predictor" not in modules  # the core alone lists the tasks


COLLECT_SUITE = """
name = "tiny-resume"
budget = 1
teacher_epochs = 1
students_per_pair = 3
recipes_per_student = 1
replicate_fraction = 0.0

[[groups]]
source = "digits"
classes = ["0-2"]
n_test = 0
teachers = ["cnn-s"]
teachers_per_task = 1
"""


def test_an_interrupted_collection_says_what_it_kept_and_how_to_resume(tmp_path, monkeypatch, capsys):
    import shlex

    from dass.cli import collect as collect_cli
    from dass.cli import main
    from datasets_meta.store import SQLiteStore
    from distill.executors import InProcessExecutor

    suite, db = tmp_path / "tiny.toml", tmp_path / "m.db"
    suite.write_text(COLLECT_SUITE)
    monkeypatch.setenv("DASS_PROGRESS_INTERVAL", "3600")  # a status line would come every hour: none in this test
    monkeypatch.setattr(collect_cli, "PoolExecutor", lambda workers, data_dir: InProcessExecutor(data_dir))
    real_collect = collect_cli.collect

    def ctrl_c_after_the_first_result(store, executor, max_jobs=None, on_result=None):
        def first_then_ctrl_c(job, outcome):
            on_result(job, outcome)
            raise KeyboardInterrupt

        return real_collect(store, executor, max_jobs=max_jobs, on_result=first_then_ctrl_c)

    monkeypatch.setattr(collect_cli, "collect", ctrl_c_after_the_first_result)
    assert main(["collect", "--suite", str(suite), "--db", str(db)]) == 130
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    with SQLiteStore(db, writer=False) as store:
        counts = store.counts()
    assert counts["done"] == 1 and counts["running"] == 0 and counts["pending"] > 0
    assert err.startswith(f"dass collect: interrupted; kept in {db}: 1 jobs done, 0 failed (1 done in this run), ")
    assert f"{counts['pending']} to go" in err
    command = err.split("resume with the same command: ")[1]
    assert shlex.split(command) == ["dass", "collect", "--suite", str(suite), "--db", str(db)]

    monkeypatch.setattr(collect_cli, "collect", real_collect)
    shown, real_bar = [], collect_cli.progress_bar
    monkeypatch.setattr(collect_cli, "progress_bar", lambda *a: shown.append(real_bar(*a)) or shown[-1])
    assert main(shlex.split(command)[1:]) == 0  # the printed command goes on where the first run stopped
    out = capsys.readouterr().out
    assert f"this run: {counts['pending']} done, 0 failed" in out
    # the progress counts from the jobs an earlier run finished; without a terminal it is a periodic status line
    (progress,) = shown
    assert progress.mode == "lines" and progress.n == progress.total == 1 + counts["pending"]
    assert progress.status_line().startswith(f"dass collect: {progress.total}/{progress.total} jobs (100%), ")


def test_a_store_rebuilt_from_a_partial_export_trains_only_the_jobs_it_lacks(tmp_path, monkeypatch, capsys):
    """What collect.sh does on a machine that lost the record store: import the committed snapshot, then collect."""
    from dass.cli import collect as collect_cli
    from dass.cli import main
    from datasets_meta.store import SQLiteStore
    from distill.executors import InProcessExecutor

    suite, lost, snapshot, rebuilt = tmp_path / "tiny.toml", tmp_path / "a.db", tmp_path / "p.csv.gz", tmp_path / "b.db"
    suite.write_text(COLLECT_SUITE)
    monkeypatch.setenv("DASS_PROGRESS_INTERVAL", "3600")
    monkeypatch.setattr(collect_cli, "PoolExecutor", lambda workers, data_dir: InProcessExecutor(data_dir))
    assert main(["collect", "--suite", str(suite), "--db", str(lost), "--max-jobs", "2"]) == 0
    assert main(["collect", "--db", str(lost), "--export", str(snapshot)]) == 0
    assert main(["collect", "--db", str(rebuilt), "--import", str(snapshot)]) == 0
    capsys.readouterr()

    def key(r):
        return (r["task_id"], r["teacher_id"], r["genome_hash"], r["budget"], r["seed"])

    trained, real_submit = [], InProcessExecutor.submit
    monkeypatch.setattr(
        InProcessExecutor,
        "submit",
        lambda self, fn, payload: trained.append(key(payload)) or real_submit(self, fn, payload),
    )
    assert main(["collect", "--suite", str(suite), "--db", str(rebuilt)]) == 0
    with SQLiteStore(lost, writer=False) as a, SQLiteStore(rebuilt, writer=False) as b:
        kept = {key(r): r for r in a.records(status="done")}
        after = {key(r): r for r in b.records(status="done")}
        assert b.counts()["pending"] == 0
    assert len(kept) == 2 and set(kept) < set(after)
    assert not set(trained) & set(kept) and set(trained) == set(after) - set(kept)
    for k, record in kept.items():  # the imported records are the snapshot's, not trained again
        assert after[k]["test_acc"] == record["test_acc"] and after[k]["finished_at"] == record["finished_at"]
