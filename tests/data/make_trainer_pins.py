"""Writes ``trainer_pins.json``: what the CPU trainer computes on a fixed set of runs, pinned.

Run once, at the commit before a change to the trainer; ``tests/distill/test_trainer_pins.py`` then requires
the code of any later commit to give the same results and trained weights bit for bit::

    python tests/data/make_trainer_pins.py

The shipped file was written at commit e2b46f7 (the trainer that checked ``torch.isfinite(loss)`` on the host
every step), before issue 23's device-side divergence flag.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "distill"))

from trainer_pins import environment, runs  # noqa: E402

if __name__ == "__main__":
    path = Path(__file__).with_name("trainer_pins.json")
    path.write_text(json.dumps({"environment": environment(), "runs": runs()}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path}")
