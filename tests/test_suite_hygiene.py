"""The test suite cleans up after itself: nothing of a run is left in the temporary directory."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

INNER_TEST = """
import os
from pathlib import Path

def test_uses_the_cache():
    cache = Path(os.environ["DASS_CACHE"])
    (cache / "teachers").mkdir()
    (cache / "teachers" / "t.pt").write_bytes(b"weights")
    Path(os.environ["WHERE"]).write_text(str(cache))
"""


def test_the_per_run_cache_is_removed_when_the_run_ends(tmp_path):
    """A run's teacher and task cache ($DASS_CACHE, a fresh temporary directory) is gone once pytest exits."""
    tmp, where = tmp_path / "tmp", tmp_path / "where.txt"
    tmp.mkdir()
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    env = {**os.environ, "TMPDIR": str(tmp), "WHERE": str(where)}
    env.pop("DASS_CACHE", None)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.conftest",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_inner.py"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    cache = Path(where.read_text())
    assert cache.parent == tmp and cache.name.startswith("dass-test-cache-")  # the run had its own cache here
    assert not cache.exists() and not list(tmp.glob("dass-test-cache-*"))  # and it is gone
