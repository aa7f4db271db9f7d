"""The README's printed outputs are what the commands print: the cheap examples on every test run.

The examples that train (``dass train``, ``dass search``/``make demo``, ``dass predict`` with a fresh teacher, the
Python snippets) take minutes and are checked by ``benchmarks/readme_examples.py --check`` alone; these need no
teacher and take seconds. The script also refuses a README whose examples it cannot find all of (a block with
output but no marker) and a Makefile whose ``make demo`` is not the README's ``demo`` example.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHEAP = ["tasks", "teachers", "genome"]  # benchmarks/readme_examples.py's CHEAP


def script(*args: str) -> subprocess.CompletedProcess:
    """``python -m benchmarks.readme_examples ARGS`` from the repository root, as its docstring runs it."""
    env = {**os.environ, "WANDB_MODE": "disabled"}
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.readme_examples", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_the_cheap_examples_print_what_the_readme_shows():
    done = script("--check", "--only", *CHEAP)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(CHEAP)} example(s): all match README.md" in done.stdout


def test_every_example_with_output_is_found_and_make_demo_is_the_demo_example():
    done = script("--list")
    assert done.returncode == 0, done.stdout + done.stderr
    listed = {line.split()[0] for line in done.stdout.splitlines()}
    assert {*CHEAP, "train", "demo", "predict", "python-predict", "python-adapt"} <= listed, done.stdout


def test_write_puts_what_an_example_prints_into_the_readme(tmp_path):
    readme = (ROOT / "README.md").read_text()
    shown = next(line for line in readme.splitlines() if line.startswith("wrote my_student.json (hash "))
    stale = tmp_path / "README.md"
    stale.write_text(readme.replace(shown, "wrote my_student.json (hash 0123456789abcdef)"))
    done = script("--write", "--only", "genome", "--readme", str(stale))
    assert done.returncode == 0, done.stdout + done.stderr
    assert stale.read_text() == readme


def test_an_example_with_output_but_no_marker_is_refused(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "README.md").read_text().replace("<!-- example: teachers -->\n", ""))
    done = script("--list", "--readme", str(readme))
    assert done.returncode == 2
    assert "an example with output but no '<!-- example: NAME -->' line above it" in done.stderr


def test_make_demo_must_run_the_readmes_demo_example(tmp_path):
    makefile = tmp_path / "Makefile"
    makefile.write_text((ROOT / "Makefile").read_text().replace("--seed 0 --out runs/demo", "--seed 1 --out runs/demo"))
    done = script("--list", "--makefile", str(makefile))
    assert done.returncode == 2
    assert "'make demo' runs dass search" in done.stderr and "--seed 1" in done.stderr
