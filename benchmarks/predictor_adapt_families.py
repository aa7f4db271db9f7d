"""Settings of `AccuracyPredictor.adapt` on families the predictor never saw, chosen on some and checked on others.

`predictor_adapt_tuning` chose the adaptation's defaults (20 steps, learning rate 0.003, anchor 1, every weight)
on v1's meta-validation tasks, handwritten digits that the meta-trained predictor already ranks well. Adapting is
the design's answer to an *unfamiliar* task, so this asks the question again where the task is unfamiliar: the
folds of a leave-one-family-out run (``--lofo``: its data, landmark table, scored groups and kept fold
checkpoints), each fold's predictor adapted on 10 records of a held-out group (5 draws, the same draws for every
setting) and scored on the group's other students: Spearman and mean absolute error.

Choosing on the folds it is then scored on would flatter the winner, so the families are split: a setting is
chosen on ``--choose`` (the best mean adapted Spearman over those families) and the default and the chosen
setting are then scored on ``--check``, families the choice never read. Every setting's uncertainty is left
uncalibrated here (``calibrate=False``; that re-scaling changes no prediction, only the reported sigma).
Resumable: each (family, setting) is written as soon as it is scored.

    DASS_CACHE=... .venv/bin/python -m benchmarks.predictor_adapt_families \\
        --lofo benchmarks/results/leave_one_family_out_v2lm_particles32.json \\
        --data datasets_meta/meta_v1.csv.gz datasets_meta/meta_v2/part[1-6]_*.csv.gz \\
        --landmarks datasets_meta/landmarks_with_particles32.json \\
        --choose textures particles glyphs --check shapes mnist digits fractals
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from pathlib import Path
from typing import Any

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import file_sha256, provenance, result_path, write_json
from benchmarks.leave_one_family_out import held_out_runs, settings_hash
from distill.teachers import cache_dir
from predictor.data import load_records
from predictor.estimator import AccuracyPredictor
from predictor.evaluate import evaluate
from predictor.pretrain import with_landmarks

# AccuracyPredictor.adapt's defaults, read from its signature so that the grid follows them
DEFAULT = {
    k: inspect.signature(AccuracyPredictor.adapt).parameters[k].default for k in ("steps", "lr", "anchor", "params")
}
# the defaults, and more of the task in the weights: more steps, a larger step, a weaker pull to the meta-trained
# weights (a held-out family's errors are larger than meta-validation's, so it may pay to move further)
GRID = [
    DEFAULT,
    {"steps": 20, "lr": 1e-2, "anchor": 0.1, "params": "all"},
    {"steps": 60, "lr": 3e-3, "anchor": 0.1, "params": "all"},
    {"steps": 60, "lr": 1e-2, "anchor": 0.1, "params": "all"},
]


def name(setting: dict[str, Any]) -> str:
    return f"steps={setting['steps']} lr={setting['lr']:g} anchor={setting['anchor']:g} params={setting['params']}"


def score(model: AccuracyPredictor, test_runs: list[dict], setting: dict[str, Any], label_seeds: int) -> dict:
    """Adapted and zero-shot (same records) Spearman and MAE over the held-out groups, and the seconds it took."""
    start = time.perf_counter()
    report = evaluate(
        model,
        test_runs,
        adapt_records=10,
        adapt_options={**setting, "calibrate": False},
        baselines=False,
        label_seeds=label_seeds,
    )
    adapted, same = report["mean"]["ours (adapted 10)"], report["mean"]["ours (zero-shot, same records)"]
    return {
        "adapted": round(adapted["spearman"], 4),
        "adapted_mae": round(adapted["mae"], 4),
        "adapted_top10": round(adapted["p@10%"], 4),
        "zero_shot_same_records": round(same["spearman"], 4),
        "zero_shot_mae": round(same["mae"], 4),
        "groups": len(report["groups"]),
        "seconds": round(time.perf_counter() - start, 1),
    }


def chosen(results: dict[str, Any], families: list[str]) -> str | None:
    """The setting with the best mean adapted Spearman over ``families`` (only settings scored on all of them)."""
    scored = [s for s in map(name, GRID) if all(s in results["folds"].get(f, {}) for f in families)]
    if not scored:
        return None
    return max(scored, key=lambda s: sum(results["folds"][f][s]["adapted"] for f in families) / len(families))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lofo", required=True, help="a leave_one_family_out result file whose fold checkpoints are kept")
    ap.add_argument("--data", nargs="+", required=True, help="that run's meta-dataset exports")
    ap.add_argument("--landmarks", help="that run's landmark table")
    ap.add_argument("--choose", nargs="+", required=True, help="families the setting is chosen on")
    ap.add_argument("--check", nargs="+", required=True, help="families it is then checked on")
    ap.add_argument("--fold-dir", default=str(cache_dir() / "lofo_folds"))
    ap.add_argument("--out", default=str(result_path("predictor_adapt_families")))
    args = ap.parse_args()
    overlap = sorted(set(args.choose) & set(args.check))
    if overlap:
        raise SystemExit(f"--check: {overlap[0]!r} is also in --choose; a setting is checked on families not chosen on")
    lofo = json.loads(Path(args.lofo).read_text())
    settings = lofo["settings"]
    data = {Path(p).name: file_sha256(p) for p in args.data}
    if data != settings["data"]:
        raise SystemExit(f"--data: these files are not the ones {args.lofo} was run on: {sorted(settings['data'])}")
    if "landmarks" in settings and (
        not args.landmarks or {Path(args.landmarks).name: file_sha256(args.landmarks)} != settings["landmarks"]
    ):
        raise SystemExit(f"--landmarks: give the table {args.lofo} was run with: {sorted(settings['landmarks'])}")
    fold_dir = Path(args.fold_dir) / settings_hash({k: v for k, v in settings.items() if k != "max_groups"})
    missing = [f for f in args.choose + args.check if not (fold_dir / f"without-{f}.pt").is_file()]
    if missing:
        raise SystemExit(f"{missing[0]!r}: no kept fold checkpoint in {fold_dir} (another --fold-dir or $DASS_CACHE?)")
    examples = [e for path in args.data for e in load_records(path)]
    if args.landmarks:
        examples = with_landmarks(examples, args.landmarks)

    out = Path(args.out)
    key = {"lofo": Path(args.lofo).name, "fold_dir": fold_dir.name, "choose": args.choose, "check": args.check}
    results = json.loads(out.read_text()) if out.is_file() else {}
    if results.get("key") != key:
        results = {"key": key, "grid": [name(s) for s in GRID], "folds": {}}
    label_seeds = settings["label_seeds"]
    splits = tuple(tuple(split) for split in settings.get("splits", []))  # families such as textures[:size=32]

    def run(family: str, setting: dict[str, Any]) -> None:
        fold = results["folds"].setdefault(family, {})
        if name(setting) in fold:
            return
        print(f"{family}: {name(setting)} ...", flush=True)
        model = AccuracyPredictor.load(fold_dir / f"without-{family}.pt")
        test_runs, _ = held_out_runs(family, examples, settings["max_groups"], splits)
        fold[name(setting)] = score(model, test_runs, setting, label_seeds)
        print(f"{family}: {name(setting)}: {fold[name(setting)]}", flush=True)
        results["measured"] = provenance()
        write_json(out, results)

    for family in args.choose:
        for setting in GRID:
            run(family, setting)
    best = chosen(results, args.choose)
    results["chosen"] = best
    write_json(out, results)
    print(f"chosen on {', '.join(args.choose)}: {best}", flush=True)
    for family in args.check:
        for setting in {name(s): s for s in (DEFAULT, *[g for g in GRID if name(g) == best])}.values():
            run(family, setting)


def render(data: dict) -> str:
    """The adapted Spearman, MAE and top-10 % precision of every setting on every fold, the chosen one marked."""
    from benchmarks.render import f3, table

    key, best = data["key"], data.get("chosen")
    families = key["choose"] + key["check"]
    rows = []
    for setting in data["grid"]:
        cells = []
        for family in families:
            r = data["folds"].get(family, {}).get(setting)
            cells.append(f"{f3(r['adapted'])} / {f3(r['adapted_mae'])} / {f3(r['adapted_top10'])}" if r else "–")
        label = f"**{setting}**" if setting == best else setting
        rows.append([label, *cells])
    zero = []
    for family in families:
        fold = data["folds"].get(family, {})
        r = next(iter(fold.values()), None)
        zero.append(f"{f3(r['zero_shot_same_records'])} / {f3(r['zero_shot_mae'])}" if r else "–")
    rows.append(["zero-shot, same records", *zero])
    header = ["setting", *[f"{f} (chosen on)" if f in key["choose"] else f"{f} (check)" for f in families]]
    return "\n\n".join(
        [
            f"Folds of `{key['lofo']}` (kept checkpoints `{key['fold_dir']}`): adapted Spearman / MAE / top-10 % "
            "precision on each held-out family's groups (zero-shot: Spearman / MAE), 10 records, 5 draws. Chosen "
            "(bold): the best mean adapted Spearman over the families marked 'chosen on'; the others were scored with "
            "the default and the chosen setting only.",
            table(header, rows, [False] + [True] * len(families)),
        ]
    )


if __name__ == "__main__":
    main()
