"""The bad-input benchmark: how it judges a command's output, and that its cases cover every command."""

from __future__ import annotations

import sys
import textwrap

from benchmarks.bad_inputs import Case, cases, render, run_case

COMMANDS = {"tasks", "teachers", "genome", "train", "collect", "pretrain", "predict", "evaluate", "search"}


def fake_dass(tmp_path, body: str) -> list[str]:
    """A stand-in for `dass` that prints and exits as ``body`` says, whatever its arguments."""
    script = tmp_path / "fake_dass.py"
    script.write_text("import sys\n" + textwrap.dedent(body))
    return [sys.executable, str(script)]


def judge(tmp_path, body: str) -> dict:
    return run_case(Case("c", ("search", "--max-params", "x")), fake_dass(tmp_path, body), tmp_path, {}, 60)


def test_a_one_line_error_with_exit_code_2_is_clean(tmp_path):
    row = judge(tmp_path, "sys.stderr.write('dass search: error: bad value\\n'); sys.exit(2)")
    assert row["clean"] and row["one_line"] and not row["usage_block"]
    assert row["last_line"] == "dass search: error: bad value" and row["exit_code"] == 2
    assert row["command"] == "dass search --max-params x"


def test_argparse_usage_above_the_error_is_counted_apart(tmp_path):
    usage = "usage: dass search [-h]\\n                   [--out OUT]\\ndass search: error: argument --x: bad\\n"
    row = judge(tmp_path, f"sys.stderr.write('{usage}'); sys.exit(2)")
    assert row["clean"] and row["usage_block"] and row["stderr_lines"] == 3


def test_a_traceback_another_exit_code_or_silence_is_not_clean(tmp_path):
    traceback = judge(tmp_path, "raise RuntimeError('boom')")
    assert not traceback["clean"] and traceback["traceback"] and traceback["exit_code"] == 1
    assert traceback["last_line"] == "RuntimeError: boom"
    assert not judge(tmp_path, "sys.stderr.write('dass: error: x\\n'); sys.exit(1)")["clean"]
    silent = judge(tmp_path, "sys.exit(2)")
    assert not silent["clean"] and silent["last_line"] == ""
    two = judge(tmp_path, "sys.stderr.write('warning: a\\ndass: error: b\\n'); sys.exit(2)")
    assert not two["clean"] and two["stderr_lines"] == 2


def test_a_case_that_runs_too_long_is_stopped_and_not_clean(tmp_path):
    row = run_case(Case("c", ()), fake_dass(tmp_path, "import time; time.sleep(30)"), tmp_path, {}, 0.5)
    assert row["exit_code"] is None and not row["clean"] and row["seconds"] < 20


def test_the_cases_cover_every_command_with_unique_names():
    all_cases = cases()
    assert len(all_cases) >= 160
    assert len({c.name for c in all_cases}) == len(all_cases)
    assert COMMANDS <= {c.args[0] for c in all_cases if c.args}


def test_the_table_marks_what_is_not_clean():
    rows = [
        {"case": "a", "exit_code": 2, "last_line": "dass: error: x | y", "clean": True, "seconds": 1.3},
        {"case": "b", "exit_code": None, "last_line": "", "clean": False, "seconds": 120.0},
    ]
    data = {"results": rows, "cases": 2, "clean": 1, "with_usage_block": 0, "timeout_s": 120.0, "defects": ["b"]}
    text = render(data)
    assert "1 of 2 bad inputs" in text and "1 do not, of which 0 are rightly accepted and 1 are defects" in text
    assert "| a | 2 | `dass: error: x \\| y` | 1.3 |" in text
    assert "| b | timeout | **not clean** (nothing) | 120.0 |" in text
