"""The benchmark scripts are run from the repository root (``python -m benchmarks.NAME``) and are no installed
package: their tests import them the same way, with the root on the path."""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
