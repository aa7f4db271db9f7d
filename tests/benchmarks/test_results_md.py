"""The benchmark index and RESULTS.md are generated from the result files and may not drift from them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"


def readme_rows() -> list[str]:
    """The rows of the benchmark table in benchmarks/README.md (header and rule left out)."""
    lines = [line for line in (BENCHMARKS / "README.md").read_text().splitlines() if line.startswith("| `")]
    assert lines, "benchmarks/README.md has no benchmark table"
    return lines


def test_committed_files_equal_what_the_generator_writes():
    # --check writes nothing and exits 1 naming the stale file; run as the README says, from the repository root
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.make_results", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_readme_row_names_a_result_file_that_exists():
    for row in readme_rows():
        links = re.findall(r"\]\(([^)]+)\)", row)
        if not links:  # a benchmark not run since result files: the row says which file its command writes
            assert "none yet (the command writes `benchmarks/results/" in row, row
            written = re.search(r"writes `([^`]+)`", row).group(1)
            assert not (ROOT / written).exists(), f"{written} exists but the README does not link it"
            continue
        assert len(links) == 1, row
        assert (BENCHMARKS / links[0]).is_file(), f"{links[0]} (from {row[:60]}...) does not exist"


def test_every_result_file_is_listed():
    listed = "\n".join(readme_rows())
    for path in sorted((BENCHMARKS / "results").iterdir()):
        if path.suffix == ".json":
            assert f"(results/{path.name})" in listed, f"{path.name} is in benchmarks/results/ but not in README.md"


def test_every_script_writes_under_results_by_default():
    scripts = [p for p in BENCHMARKS.glob("*.py") if p.stem not in {"__init__", "common", "search_runs", "render"}]
    for script in scripts:
        if script.stem == "make_results":
            continue
        text = script.read_text()
        assert "result_path(" in text, f"{script.name} does not write benchmarks/results/ by default"
        assert "sys.path.insert" not in text, f"{script.name} imports through sys.path"
