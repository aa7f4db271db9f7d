"""What the meta-dataset holds: counts, the noise ceiling per task family, accuracies per task.

    .venv/bin/python benchmarks/meta_dataset_stats.py datasets_meta/meta_v1.csv.gz [--plot FILE]

The noise ceiling of a (task, teacher) group is the Spearman correlation between the final test
accuracies of the same students trained with two seeds; no predictor can rank them better.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from predictor.data import load_records
from predictor.evaluate import noise_ceiling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--plot", help="write a box plot of accuracies per task here")
    args = parser.parse_args()
    ex = load_records(args.data)
    firsts = [e for e in ex if e["seed"] == 0]
    replicated = {(e["group"], e["genome_hash"]) for e in ex if e["seed"] == 1}
    print(
        f"records {len(ex)} (ok), tasks {len({e['task_id'] for e in ex})}, "
        f"(task, teacher) groups {len({e['group'] for e in ex})}"
    )
    print(f"domain families {sorted({e['tags'].get('domain') for e in ex})}")
    print(f"teacher families {sorted({e['tags'].get('teacher_family') for e in ex})}")
    controls = sum(e["tags"].get("control", False) for e in ex)
    heldout = sum(e["tags"].get("heldout", False) for e in ex)
    print(f"no-KD controls {controls}, triples trained with 2 seeds {len(replicated)}, held-out records {heldout}")
    curves = sum(len(e["curve"]) == e["budget"] for e in ex)
    print(f"records with a full per-epoch curve {curves}\n")

    ceiling = noise_ceiling(ex)
    family = {e["group"]: e["tags"].get("domain", "?") for e in ex}
    source = {e["group"]: e["tags"].get("source", "?") for e in ex}
    by_family: dict[str, list[float]] = defaultdict(list)
    for g, rho in ceiling.items():
        by_family[f"{source[g]}/{family[g]}"].append(rho)
    print("| task family | groups with 2 seeds | noise ceiling (mean Spearman) | min |\n|---|---:|---:|---:|")
    for fam, rhos in sorted(by_family.items()):
        print(f"| {fam} | {len(rhos)} | {np.mean(rhos):.3f} | {np.min(rhos):.3f} |")
    if ceiling:
        print(
            f"| all | {len(ceiling)} | {np.mean(list(ceiling.values())):.3f} | {np.min(list(ceiling.values())):.3f} |"
        )

    by_task: dict[str, list[float]] = defaultdict(list)
    for e in firsts:
        by_task[e["task_spec"]].append(e["target"])
    print("\n| task | students | min | median | max | teacher acc |\n|---|---:|---:|---:|---:|---:|")
    teacher_acc: dict[str, list[float]] = defaultdict(list)
    for e in firsts:
        if e.get("teacher_acc") is not None:
            teacher_acc[e["task_spec"]].append(e["teacher_acc"])
    for task, accs in sorted(by_task.items()):
        t = np.mean(teacher_acc[task]) if teacher_acc[task] else float("nan")
        print(f"| {task} | {len(accs)} | {min(accs):.3f} | {np.median(accs):.3f} | {max(accs):.3f} | {t:.3f} |")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = sorted(by_task)
        fig, ax = plt.subplots(figsize=(10, max(4, 0.22 * len(names))))
        ax.boxplot([by_task[n] for n in names], orientation="horizontal", tick_labels=names)
        ax.tick_params(axis="y", labelsize=6)
        ax.set_xlabel("final test accuracy (seed 0)")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"\nwrote {args.plot}")


if __name__ == "__main__":
    main()
