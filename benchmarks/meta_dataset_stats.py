"""What the meta-dataset holds: counts, the noise ceiling per task family, accuracies per task.

    .venv/bin/python -m benchmarks.meta_dataset_stats datasets_meta/meta_v1.csv.gz [MORE.csv.gz ...] [--plot FILE]
        [--label-seeds 2]

The noise ceiling of a (task, teacher) group is the Spearman correlation between two independent
labels of the same students: the final test accuracies of seed 0 and seed 1 (one-seed labels), and,
where students have four seeds, the mean of seeds 0-1 against the mean of seeds 2-3 (the two-seed
labels the predictor trains on). No predictor can rank the labels better. Per task source it also gives what
distillation buys over the no-distillation control of the same architecture, and how often it hurts; and which CNN
students do well on it (the Spearman correlation of the labels with size and shape, per source). The
counts and tables also go to ``benchmarks/results/meta_dataset_stats.json`` (``--out``).
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np
from scipy.stats import spearmanr

from benchmarks.common import file_sha256, provenance, result_path, write_json
from predictor.data import load_records, mean_labels
from predictor.evaluate import kd_gain, noise_ceiling, spearman_brown

# what a CNN student's label may follow, per (task, teacher) group: its size and the shape of its stages
ARCH_FEATURES = ("params", "FLOPs", "blocks", "stages", "mean kernel", "first width", "last width")


def arch_features(example: dict) -> dict[str, float] | None:
    """A staged-CNN student's size and shape (``None`` for another family's genome)."""
    genome = json.loads(example["genome"])
    stages = genome.get("stages") or []
    if not stages or "kernel" not in stages[0]:
        return None
    return {
        "params": example["params"],
        "FLOPs": example["flops"],
        "blocks": sum(s["depth"] for s in stages),
        "stages": len(stages),
        "mean kernel": float(np.mean([s["kernel"] for s in stages])),
        "first width": stages[0]["width"],
        "last width": stages[-1]["width"],
    }


def what_orders(labels: list[dict]) -> list[dict]:
    """Per task source, the mean over its (task, teacher) groups of the Spearman correlation between the students'
    labels and each of :data:`ARCH_FEATURES`: which kind of CNN student does well on which kind of data."""
    per_source: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    by_group: dict[str, list[tuple[float, dict]]] = defaultdict(list)
    for e in labels:
        if (f := arch_features(e)) is not None:
            by_group[e["group"]].append((e["target"], f, e["tags"].get("source", "?")))
    for rows in by_group.values():
        if len(rows) < 5:
            continue
        y = np.array([r[0] for r in rows])
        for name in ARCH_FEATURES:
            x = np.array([r[1][name] for r in rows], dtype=float)
            if np.ptp(x) > 0 and np.ptp(y) > 0:
                per_source[rows[0][2]][name].append(float(spearmanr(x, y)[0]))
    return [
        {"source": src, "groups": len(next(iter(feats.values()))), **{n: float(np.mean(v)) for n, v in feats.items()}}
        for src, feats in sorted(per_source.items())
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="+", help="meta-dataset exports, read together")
    parser.add_argument("--plot", help="write a box plot of accuracies per task here")
    parser.add_argument("--label-seeds", type=int, default=2, help="seeds a label averages")
    parser.add_argument(
        "--min-students", type=int, default=4, help="a pair's ceiling needs this many students with both labels"
    )
    parser.add_argument("--out", default=str(result_path("meta_dataset_stats")), help="the result JSON")
    args = parser.parse_args()
    k = args.label_seeds
    ex = [e for path in args.data for e in load_records(path)]
    firsts = [e for e in ex if e["seed"] == 0]
    seeds_of = defaultdict(set)  # (group, genome): the seeds it was trained with
    for e in ex:
        seeds_of[(e["group"], e["genome_hash"])].add(e["seed"])
    replicated = sum(1 in s for s in seeds_of.values())
    labels = mean_labels(ex, k)
    print(
        f"records {len(ex)} (ok), tasks {len({e['task_id'] for e in ex})}, "
        f"(task, teacher) groups {len({e['group'] for e in ex})}"
    )
    print(f"domain families {sorted({e['tags'].get('domain') for e in ex})}")
    print(f"teacher families {sorted({e['tags'].get('teacher_family') for e in ex})}")
    controls = sum(e["tags"].get("control", False) for e in ex)
    heldout = sum(e["tags"].get("heldout", False) for e in ex)
    print(f"no-KD controls {controls}, triples trained with 2 seeds {replicated}, held-out records {heldout}")
    full = sum(e["seeds"] == k for e in labels)
    print(f"students (labels) {len(labels)}, of which with all {k} label seeds {full}")
    quads = sum(len(s) >= 2 * k for s in seeds_of.values())
    print(f"students with {2 * k} seeds (the noise ceiling of {k}-seed labels) {quads}")
    curves = sum(len(e["curve"]) == e["budget"] for e in ex)
    print(f"records with a full per-epoch curve {curves}\n")

    family = {e["group"]: f"{e['tags'].get('source', '?')}/{e['tags'].get('domain', '?')}" for e in ex}
    one, many = noise_ceiling(ex, 1, args.min_students), noise_ceiling(ex, k, args.min_students)
    print(f"pairs with at least {args.min_students} students with two independent labels:")
    print(
        f"| task family | pairs with 2 seeds | one-seed labels: noise ceiling | min | {k}-seed labels, predicted "
        f"(Spearman-Brown) | pairs with {2 * k} seeds | {k}-seed labels: measured |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = [(fam, [g for g in one if family[g] == fam]) for fam in sorted({family[g] for g in one})]
    mnist = [g for g in one if family[g].startswith("mnist")]
    rows += [("all MNIST", mnist)] if mnist and len(mnist) < len(one) else []
    ceilings = []
    for fam, pairs in rows + ([("all", list(one))] if one else []):  # no pair has two seeds yet: no ceiling
        rhos = [one[g] for g in pairs]
        rk = [many[g] for g in pairs if g in many]
        cell = f"{np.mean(rk):.3f}" if rk else "-"
        print(
            f"| {fam} | {len(rhos)} | {np.mean(rhos):.3f} | {np.min(rhos):.3f} | "
            f"{spearman_brown(float(np.mean(rhos)), k):.3f} | {len(rk)} | {cell} |"
        )
        ceilings.append(
            {
                "family": fam,
                "pairs": len(rhos),
                "one_seed": float(np.mean(rhos)),
                "one_seed_min": float(np.min(rhos)),
                "label_seeds_predicted": spearman_brown(float(np.mean(rhos)), k),
                "pairs_measured": len(rk),
                "label_seeds_measured": float(np.mean(rk)) if rk else None,
            }
        )

    print("\n| source | records | tasks | architectures | KD gain: mean | median | p10 | p90 | KD hurts |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    sources = []
    for source in sorted({e["tags"].get("source", "?") for e in ex}):
        runs = [e for e in ex if e["tags"].get("source", "?") == source]
        gain = kd_gain([e for e in labels if e["tags"].get("source", "?") == source])
        cells = (
            " | ".join(f"{gain[k]:+.3f}" for k in ("mean", "median", "p10", "p90")) if gain["n"] else "- | - | - | -"
        )
        hurts = f"{gain['kd_hurts']:.0%}" if gain["n"] else "-"
        n_tasks = len({e["task_id"] for e in runs})
        print(f"| {source} | {len(runs)} | {n_tasks} | {gain['n']} | {cells} | {hurts} |")
        sources.append({"source": source, "records": len(runs), "tasks": n_tasks, "kd_gain": gain})

    orders = what_orders(labels)
    if orders:
        print("\nSpearman between a CNN student's label and its size / shape, mean over the (task, teacher) groups:")
        print("| source | groups | " + " | ".join(ARCH_FEATURES) + " |\n|---|---:|" + "---:|" * len(ARCH_FEATURES))
        for o in orders:
            cells = " | ".join(f"{o.get(n, np.nan):+.2f}" for n in ARCH_FEATURES)
            print(f"| {o['source']} | {o['groups']} | {cells} |")

    by_task: dict[str, list[float]] = defaultdict(list)
    for e in firsts:
        by_task[e["task_spec"]].append(e["target"])
    print("\n| task | students | min | median | max | teacher acc |\n|---|---:|---:|---:|---:|---:|")
    teacher_acc: dict[str, list[float]] = defaultdict(list)
    for e in firsts:
        if e.get("teacher_acc") is not None:
            teacher_acc[e["task_spec"]].append(e["teacher_acc"])
    tasks = []
    for task, accs in sorted(by_task.items()):
        t = np.mean(teacher_acc[task]) if teacher_acc[task] else float("nan")
        print(f"| {task} | {len(accs)} | {min(accs):.3f} | {np.median(accs):.3f} | {max(accs):.3f} | {t:.3f} |")
        tasks.append(
            {
                "task": task,
                "students": len(accs),
                "min": min(accs),
                "median": float(np.median(accs)),
                "max": max(accs),
                "teacher_acc": float(t) if teacher_acc[task] else None,
            }
        )
    write_json(
        args.out,
        {
            "measured": provenance(),
            "data": args.data[0] if len(args.data) == 1 else args.data,
            "data_sha256": file_sha256(args.data[0]) if len(args.data) == 1 else [file_sha256(p) for p in args.data],
            "label_seeds": k,
            "min_students": args.min_students,
            "records": len(ex),
            "tasks": len({e["task_id"] for e in ex}),
            "groups": len({e["group"] for e in ex}),
            "domain_families": sorted(str(d) for d in {e["tags"].get("domain") for e in ex}),
            "teacher_families": sorted(str(t) for t in {e["tags"].get("teacher_family") for e in ex}),
            "controls": controls,
            "replicated_triples": replicated,
            "heldout_records": heldout,
            "students": len(labels),
            "students_with_all_label_seeds": full,
            "students_with_twice_the_label_seeds": quads,
            "records_with_full_curve": curves,
            "noise_ceiling": ceilings,
            "per_source": sources,
            "what_orders": orders,
            "per_task": tasks,
        },
    )
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
