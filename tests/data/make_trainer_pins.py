"""Writes this machine's set of pins into ``trainer_pins.json``: what the CPU trainer computes on a fixed set of runs.

Run at a commit whose trainer is known good (one that reproduces an existing set on that set's machine), before a
change to the trainer; ``tests/distill/test_trainer_pins.py`` then requires the code of any later commit to give
the same results and trained weights bit for bit, on every machine that has a set::

    python tests/data/make_trainer_pins.py

A set is keyed by its environment (torch build, vector instructions, the float kernels' fingerprint); writing
replaces the set of this machine's environment and keeps the others. The first set was written at commit e2b46f7
(the trainer that checked ``torch.isfinite(loss)`` on the host every step), before issue 23's device-side
divergence flag, on a machine whose fingerprint was not recorded; it was replaced by a set written on another
AVX-512 machine with the trainer of commit cf3f049 (unchanged until then), which had reproduced the first set bit for
bit on the first machine. A second set, for an AVX-512 machine whose float kernels differ (fingerprint
576d2c293af6fa9d), was written at commit 2879bc7, whose trainer is that of 5c76b20, which had passed the first set
on its machine in CI.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "distill"))

from trainer_pins import environment, runs  # noqa: E402

if __name__ == "__main__":
    path = Path(__file__).with_name("trainer_pins.json")
    here = environment()
    sets = json.loads(path.read_text())["sets"] if path.exists() else []
    sets = [s for s in sets if s["environment"] != here] + [{"environment": here, "runs": runs()}]
    path.write_text(json.dumps({"sets": sets}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path}: {len(sets)} set(s), this machine's {here}")
