"""Is a refit of the shipped predictor on its meta-dataset bit-identical to the shipped checkpoint?

Fits ``dass pretrain`` on the file named in the checkpoint's card with the card's hyper-parameters and label seeds
(a subprocess, exactly as a user would), then compares every tensor of the fitted file with the shipped one. A
refactoring that changes nothing the predictor computes keeps this at 0 tensors differing; run it after one::

    python -m benchmarks.refit_identical            # about 6 minutes on the idle 2-core machine
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch

from benchmarks.common import ROOT, card_data_files, provenance, result_path, write_json

# card key -> `dass pretrain` flag
FLAGS = {
    "epochs": "--epochs",
    "rank_weight": "--rank-weight",
    "task_noise": "--task-noise",
    "n_models": "--models",
    "hidden": "--hidden",
}


def tensors(obj, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor of a loaded checkpoint, by its path in the nested dicts and lists."""
    if isinstance(obj, torch.Tensor):
        return {prefix: obj}
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    out: dict[str, torch.Tensor] = {}
    for key, value in items:
        out.update(tensors(value, f"{prefix}/{key}"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "predictor_v1.pt"))
    parser.add_argument("--out", default=str(result_path("refit_identical")))
    args = parser.parse_args()
    shipped = Path(args.checkpoint)
    card = json.loads(shipped.with_suffix(".json").read_text())
    hyper = card["hyper_parameters"]
    data = [path for path, _ in card_data_files(card)]
    with tempfile.TemporaryDirectory() as tmp:
        refit = Path(tmp) / "refit.pt"
        command = [sys.executable, "-m", "dass", "pretrain", "--data", *map(str, data), "--out", str(refit)]
        command += ["--label-seeds", str(card["label_seeds"])]
        for key, flag in FLAGS.items():
            command += [flag, str(hyper[key])]
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True)
        fit_s = time.perf_counter() - start
        mine = tensors(torch.load(refit, weights_only=True))
    theirs = tensors(torch.load(shipped, weights_only=True))
    differ = sorted(k for k in theirs.keys() & mine.keys() if not torch.equal(theirs[k], mine[k]))
    result = {
        "question": "Is a refit with the card's settings bit-identical to the shipped checkpoint?",
        "checkpoint": str(shipped.relative_to(ROOT)),
        "data": [str(d.relative_to(ROOT)) for d in data] if len(data) > 1 else str(data[0].relative_to(ROOT)),
        "command": " ".join(command[1:]).replace(str(ROOT) + "/", ""),
        "tensors": len(theirs),
        "tensors_differing": len(differ),
        "only_in_refit": sorted(mine.keys() - theirs.keys()),
        "only_in_shipped": sorted(theirs.keys() - mine.keys()),
        "first_differing": differ[:10],
        "identical": not differ and mine.keys() == theirs.keys(),
        "wall_s": round(fit_s, 1),
        **provenance(),
    }
    write_json(args.out, result)
    print(f"{result['tensors']} tensors, {result['tensors_differing']} differ; identical: {result['identical']}")


if __name__ == "__main__":
    main()
