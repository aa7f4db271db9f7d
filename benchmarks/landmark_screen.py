"""Which tasks are in the regime where a deeper student does worse? The landmarks of candidate tasks, before any is
collected.

On the meta-dataset's families only ``textures`` has tasks with a negative landmark gap (the deep reference
student below the shallow one, ``distill/landmarks.py``), and a predictor meta-trained without textures ranks its
students poorly. This script measures the landmarks (two short trainings per task on one thread, cached under
``$DASS_CACHE/landmarks``) of candidate tasks that might be in that regime: the other generated
sources and MNIST under heavy noise, blur, downsampling, small training sets or textured backgrounds, and the
``particles`` source, which meta-dataset v2's part 5 was then collected from.

    .venv/bin/python -m benchmarks.landmark_screen [--specs SPEC ...]   # default: the candidates screened for part 5
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import provenance, result_path, write_json
from distill.landmarks import LANDMARK_FEATURES, VERSION, task_landmarks
from distill.tasks import load_task


def _candidates() -> list[str]:
    out = []
    for source in ("shapes", "glyphs", "fractals", "mnist"):
        color = "gray" if source == "mnist" else "rgb"
        for transform in ("noise0.5", "blur1.5", "downsample4", "none"):
            for size in (16, 32):
                t = "" if transform == "none" else f":transform={transform}"
                out.append(f"{source}:classes=0-9{t}:size={size}:color={color}:n_train=1000:n_test=2000")
    for source in ("shapes", "glyphs", "fractals"):
        out += [f"{source}:classes=0-9:size=32:color=rgb:n_train={n}:n_test=2000" for n in (200, 500)]
    out += [
        "shapes:classes=0-9:transform=noise0.8:size=16:color=gray:n_train=1000:n_test=2000",
        "shapes:classes=0-9:size=32:color=gray:n_train=1000:n_test=2000:background=texture",
        "shapes:classes=0-9:transform=noise0.3:size=32:color=gray:n_train=2000:n_test=2000:background=texture",
        "fractals:classes=0-9:transform=noise1.0:size=32:color=rgb:n_train=2000:n_test=2000",
        "glyphs:classes=0-9:transform=noise1.0:size=32:color=rgb:n_train=2000:n_test=2000",
        "particles:classes=0-9:size=32:color=rgb:n_train=2000:n_test=2000",
        "particles:classes=2-11:size=32:color=rgb:n_train=1000:n_test=2000",
        "particles:classes=0-9:size=16:color=gray:n_train=1000:n_test=2000",
        "particles:classes=2-11:size=16:color=rgb:n_train=2000:n_test=2000",
        "particles:classes=0-9:size=12:color=gray:n_train=1000:n_test=2000",
        "particles:classes=0-9:size=32:color=gray:n_train=3000:n_test=2000",
    ]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--specs", nargs="*", help="task specs (default: the candidates screened for part 5)")
    ap.add_argument("--data-dir", help="where mnist.npz lives (default: $DASS_DATA)")
    ap.add_argument("--out", default=str(result_path("landmark_screen")))
    args = ap.parse_args()
    rows = []
    for spec in args.specs or _candidates():
        values = task_landmarks(load_task(spec, args.data_dir))  # read from the cache when measured before
        rows.append({"task": spec, **dict(zip(LANDMARK_FEATURES, values))})
        print(f"{values[2]:+.3f}  shallow {values[0]:.3f}  deep {values[1]:.3f}  {spec}", flush=True)
    write_json(Path(args.out), {"landmark_version": VERSION, "tasks": rows, "measured": provenance()})


def render(data: dict) -> str:
    """RESULTS.md's table: every screened task with its landmarks, the most negative gap first."""
    from benchmarks.render import table

    rows = [
        [f"`{r['task']}`", f"{r['lm_shallow']:.3f}", f"{r['lm_deep']:.3f}", f"{r['lm_gap']:+.3f}"]
        for r in sorted(data["tasks"], key=lambda r: r["lm_gap"])
    ]
    return table(["task", "shallow", "deep", "gap (deep - shallow)"], rows, [False, True, True, True])


if __name__ == "__main__":
    main()
