"""Markdown from result files: number formats, tables, and one renderer per kind of result file.

Each ``render_*`` takes a parsed result file and returns the markdown of its key tables; every figure it
writes is read from that file. ``make_results.py`` says which renderer renders which benchmark.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import wilcoxon

from benchmarks.common import RESULTS_DIR, best_at

# ---------------------------------------------------------------- formatting


def f3(x: float | None) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.3f}"


def pm(values: Iterable[float | None]) -> str:
    """Mean ± std (population std, as the scripts print it) of the finite values; ``–`` if there are none."""
    finite = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    return f"{finite.mean():.3f} ± {finite.std():.3f}" if len(finite) else "–"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[bool] | None = None) -> str:
    """A markdown table; ``numeric`` columns are right-aligned."""
    numeric = numeric or [False] * len(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def short_task(spec: str) -> str:
    """The benchmark's long MNIST task spec (or its folder name) as a table label."""
    noisy = spec.startswith(("mnist:classes=0-9:transform=noise", "mnist_classes-0-9_transform-noise"))
    return "mnist 0-9, noise" if noisy else spec


def trainings(n: float | None) -> str:
    """A count of trainings as the scripts print it: ``never``, a whole number, or one decimal."""
    return "never" if n is None else f"{n:g}" if float(n).is_integer() else f"{n:.1f}"


# ---------------------------------------------------------------- renderers: result file (parsed JSON) -> markdown


def data_names(card: dict) -> str:
    """The meta-dataset file(s) a checkpoint card names, as markdown."""
    files = card["data"]["files"] if "files" in card["data"] else [card["data"]]
    return " + ".join(f"`{Path(f['file']).name}`" for f in files)


def render_pretrain(card: dict) -> str:
    mt = card["meta_test"]
    names = {
        "ours (zero-shot)": "ours (zero-shot)",
        "ours (adapted 10)": "ours (adapted to 10 records, mean of 5 draws)",
        "ours (zero-shot, same records)": "ours (zero-shot, on the same remaining records)",
        "GNN, no-KD data": "GNN trained on no-distillation records only",
        "random forest": "random forest (flat genome + task features)",
        "params": "params",
        "FLOPs": "FLOPs",
        "diswot": "DisWOT (semantic + relation)",
        "nwot": "NWOT",
        "synflow": "SynFlow",
    }
    rows = []
    for key, label in names.items():
        m = mt["mean"][key]
        mae = f3(m["mae"]) if "mae" in m else ""
        rows.append([label, f3(m["spearman"]), f3(m["kendall"]), f3(m["p@5%"]), f3(m["p@10%"]), mae])
    by_source = [  # four decimals: a target of 0.85 is missed or reached in the fourth
        [source, f"{m['ours (zero-shot)']['spearman']:.4f}", f"{m['ours (adapted 10)']['spearman']:.4f}"]
        for source, m in sorted(mt["mean_by_source"].items())
    ]
    zero, ceiling = mt["mean"]["ours (zero-shot)"]["spearman"], mt["noise_ceiling"]["mean"]
    ra = mt["recipe_awareness"]
    return "\n\n".join(
        [
            f"Checkpoint `{card['checkpoint']}`: {card['hyper_parameters']['n_models']} members of "
            f"{card['hyper_parameters']['hidden']} channels, fitted in {card['fit_seconds']:.0f} s on "
            f"{data_names(card)} ({card['data']['records']:,} records), code commit "
            f"`{card['code_commit'][:7]}`. Meta-test: {mt['groups']} groups, {mt['labels']['students']} students.",
            table(["method", "Spearman", "Kendall", "top-5 %", "top-10 %", "MAE"], rows, [False] + [True] * 5),
            "By source:\n\n" + table(["source", "zero-shot", "adapted"], by_source, [False, True, True]),
            f"Noise ceiling of these labels {f3(ceiling)} (zero-shot is {zero / ceiling:.3f}× it); recipe awareness "
            f"{f3(ra['mean'])} over {ra['n_archs']} architectures (its ceiling {f3(ra['noise_ceiling'])}).",
        ]
    )


def render_adapt_tuning(data: dict) -> str:
    best = data["best"]
    rows = [
        [
            s["steps"],
            f"{s['lr']:g}",
            f"{s['anchor']:g}",
            s["params"],
            f"**{f3(s['adapted'])}**" if s == best else f3(s["adapted"]),
            f3(s["zero_shot_same_records"]),
        ]
        for s in data["settings"]
    ]
    return "\n\n".join(
        [
            f"Checkpoint `{data['checkpoint']}` (SHA-256 `{data['checkpoint_sha256'][:8]}…`), split "
            f"`{data['split']}` of `{data['data']}`, adapted on {data['records']} records of a group, labels of up "
            f"to {data['label_seeds']} seeds.",
            table(
                ["steps", "learning rate", "anchor", "tuned", "adapted", "zero-shot, same records"],
                rows,
                [True, True, True, False, True, True],
            ),
            f"Best (bold): {best['steps']} steps, learning rate {best['lr']:g}, anchor {best['anchor']:g}, "
            f"`{best['params']}`: {f3(best['adapted'] - best['zero_shot_same_records'])} over zero-shot on the same "
            "records.",
        ]
    )


def render_data_scaling(data: dict) -> str:
    rows = []
    for key, row in data.items():
        fields = dict(part.split("=") for part in key.split())
        rows.append(
            [f"{fields['labels']}-seed", row["tasks"], f"{row['students']:,}", fields.get("random_state", 0)]
            + [f3(row["val"]), f3(row["test"])]
        )
    shas = sorted({row["data_sha256"][:8] for row in data.values()})
    return "\n\n".join(
        [
            f"Data: export with SHA-256 {', '.join(f'`{s}…`' for s in shas)}; every fit scored zero-shot against "
            "two-seed labels.",
            table(
                ["training labels", "meta-train tasks", "students", "predictor seed", "meta-val Spearman"]
                + ["meta-test Spearman"],
                rows,
                [False, True, True, True, True, True],
            ),
        ]
    )


def render_ensemble_draws(data: dict) -> str:
    pools = sorted(data["pools"].items(), key=lambda kv: -kv[1]["hidden"])
    sizes = sorted({int(k) for _, p in pools for k in p["sizes"]})
    rows = []
    for k in sizes:
        cells = []
        for _, p in pools:
            s = p["sizes"].get(str(k))
            if s is None:
                cells.append("")
            elif k == p["members"]:
                cells.append(f"{f3(s['mean'])} (all {k})")
            else:
                cells.append(f"{f3(s['mean'])} ± {f3(s['std'])}")
        rows.append([k, *cells])
    members = "; ".join(f"{name}: {p['members']} members from {', '.join(p['files'])}" for name, p in pools)
    return "\n\n".join(
        [
            f"Meta-validation of `{data['val_data']}` ({data['val_groups']} groups, labels of up to "
            f"{data['label_seeds']} seeds); {data['draws']} random subsets per size. Pools: {members}.",
            table(["members", *(f"{p['hidden']} channels" for _, p in pools)], rows, [True] * (len(pools) + 1)),
            "Mean ± std over the subsets; the std is how far one fit of that shape may land from the mean.",
        ]
    )


def render_ensemble_size(data: dict) -> str:
    subsets, summary = data["subsets"], data["summary"]
    lo, hi = summary["single member, min-max"]["val"], summary["single member, min-max"]["test"]
    rows = [
        [
            f"one (mean of the {sum(k.startswith('member ') for k in subsets)}; range)",
            f"{f3(summary['single member, mean']['val'])} ({f3(lo[0])}–{f3(lo[1])})",
            f"{f3(summary['single member, mean']['test'])} ({f3(hi[0])}–{f3(hi[1])})",
        ]
    ]
    rows += [[k.removeprefix("members "), f3(r["val"]), f3(r["test"])] for k, r in subsets.items() if "members" in k]
    hp = data["hyper_parameters"]
    return "\n\n".join(
        [
            f"One fit of {hp['n_models']} members of {hp['hidden']} channels on {data['train_students']:,} students "
            f"({data['fit_s']:.0f} s; data SHA-256 `{data['data_sha256'][:8]}…`), labels of {data['label_seeds']} "
            "seeds, sub-ensembles scored zero-shot.",
            table(["members", "meta-validation Spearman", "meta-test Spearman"], rows, [False, True, True]),
        ]
    )


def render_labels_adaptation(data: dict) -> str:
    rows = [
        [
            f"{r['labels']} ({r['label_seeds']} seeds)",
            r["adaptation"],
            f3(r["zero_shot"]),
            f3(r["adapted"]),
            f3(r["by_source"]["digits"]["ours (adapted 10)"]),
            f3(r["recipe_awareness"]),
            f3(r["noise_ceiling"]),
        ]
        for r in data["rows"]
    ]
    return "\n\n".join(
        [
            f"Checkpoint SHA-256 `{data['checkpoint_sha256'][:8]}…`, meta-test split.",
            table(
                ["labels", "adaptation", "zero-shot", "adapted", "digits adapted", "recipe awareness", "ceiling"],
                rows,
                [False, False, True, True, True, True, True],
            ),
        ]
    )


def render_variants(data: dict) -> str:
    rows = []
    for name, v in data["variants"].items():
        overrides = ", ".join(f"{k}={val}" for k, val in sorted(v["overrides"].items())) or "(card)"
        rows.append(
            [f"`{name}`", v["data"], overrides, f3(v["val_spearman"]), f3(v["val_kendall"])]
            + [f3(v["val_recipe_awareness"])]
        )
    parts = [] if "note" not in data else [data["note"]]
    parts.append(
        table(
            ["variant", "training data", "overrides", "meta-val Spearman", "Kendall", "recipe awareness"],
            rows,
            [False, False, False, True, True, True],
        )
    )
    return "\n\n".join(parts)


def render_search_students(data: dict) -> str:
    ks = sorted({int(k) for t in data["tasks"] for k in t["zero_shot"]["top"]})
    rows = []
    for t in data["tasks"]:
        task = short_task(t["task"])
        rows.append([task, "parameters", f3(t["params"]["spearman"]), f3(t["params"]["spearman_large"]), ""])
        z = t["zero_shot"]
        tops = " / ".join(f3(z["top"][str(k)]["best_by_val_test"]) for k in ks)
        rows.append([task, "predictor, zero-shot", f"**{f3(z['spearman'])}**", f3(z["spearman_large"]), tops])
        for a in t["adapted"]:
            tops = " / ".join(f3(a["top"][str(k)]["best_by_val_test"]) for k in ks)
            how = {"finetune": "fine-tuned", "guarded": "guarded"}.get(a.get("method", "finetune"), a.get("method"))
            chosen = f", chose {a['chosen']}" if a.get("chosen") else ""
            name = f"{how} on {a['run']}'s low-rung records ({a['records']}{chosen})"
            rows.append([task, name, f3(a["spearman"]), f3(a["spearman_large"]), tops])
    best = "; ".join(
        f"{short_task(t['task'])}: {t['students']} students, best test {f3(t['best_test'])}, best by validation "
        f"{f3(t['best_by_val_test'])}"
        for t in data["tasks"]
    )
    return "\n\n".join(
        [
            table(
                [
                    "task",
                    "ranking",
                    "Spearman",
                    f"above {data['large']:,} params",
                    f"best-by-validation of the top {' / '.join(map(str, ks))}",
                ],
                rows,
                [False, False, True, True, True],
            ),
            f"All random-search students: {best}.",
        ]
        + (
            [
                "What as many records could do at best: the predictor adapted to random students' full-budget "
                "trainings (unbiased, at the ranked budget), Spearman on the other students.",
                render_oracle(data),
            ]
            if any(t.get("oracle") for t in data["tasks"])
            else []
        )
        + [
            f"Noise ceiling of {short_task(t['task'])}'s labels: {t['ceiling']['students']} of its students trained "
            f"again with seed {t['ceiling']['seed']}, seed-to-seed Spearman {f3(t['ceiling']['spearman'])} "
            f"(mean absolute difference {f3(t['ceiling']['mean_abs_difference'])}); zero-shot / ceiling "
            f"{t['zero_shot']['spearman'] / t['ceiling']['spearman']:.2f}×"
            + (
                f", adapted on a search's rung records / ceiling "
                f"{min(a['spearman'] for a in t['adapted']) / t['ceiling']['spearman']:.2f}×–"
                f"{max(a['spearman'] for a in t['adapted']) / t['ceiling']['spearman']:.2f}×."
                if t["adapted"]
                else "."
            )
            for t in data["tasks"]
            if "ceiling" in t
        ]
    )


def render_oracle(data: dict) -> str:
    """The table of ``predictor_search_students --oracle-draws``: per draw of random students' trainings (full, or
    at ``--oracle-budget``), the Spearman on the other students zero-shot and after adapting on the draw."""
    rows = [
        [
            short_task(t["task"]),
            str(o["draw"]),
            str(o["records"]),
            f"{o['budget']} epoch{'s' * (o['budget'] != 1)}" if "budget" in o else "full",
            f3(o["zero_shot"]),
            f3(o["finetune"]),
            f3(o["guarded"]),
        ]
        for t in data["tasks"]
        for o in t.get("oracle", [])
    ]
    header = ["task", "draw", "records", "trained", "zero-shot", "fine-tuned", "guarded"]
    return table(header, rows, [False, True, True, False, True, True, True])


def from_reference(entries: list[dict], lead: str) -> list[str]:
    """One sentence naming the strategies whose ``entries`` (runs or picks) were read from an earlier result file
    (``from_reference``) rather than made, or nothing when every entry was made by the command."""
    read = sorted({(e["strategy"], e["from_reference"]) for e in entries if e.get("from_reference")})
    if not read:
        return []
    return [f"{lead}: " + "; ".join(f"{strategy} from `{Path(ref).name}`" for strategy, ref in read) + "."]


def render_search_efficiency(data: dict, plot: str = "results/search_efficiency.png") -> str:
    """``search_efficiency.py``'s file: best-so-far accuracy per strategy, trainings to match random search, the
    NSGA-II timing, and the curves' plot (``plot``: the PNG written beside the result file, from RESULTS.md)."""
    args = data["args"]
    points = [args["max_trainings"] / 4, args["max_trainings"] / 2, args["max_trainings"], args["random_trainings"]]
    curves: dict[tuple[str, str], list[list[dict]]] = {}
    for run in data["runs"]:
        curves.setdefault((run["task"], run["strategy"]), []).append(run["history"])
    order = ["ours", "autodistil", "uniads", "autokd", "diswot", "random"]
    rows = []
    for (task, strategy), histories in sorted(curves.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]))):
        budget = args["random_trainings"] if strategy == "random" else args["max_trainings"]
        cells = [pm(best_at(h, p) for h in histories) if p <= budget else "" for p in points]
        rows.append([short_task(task), strategy, *cells])
    matches = [
        [
            short_task(m["task"]),
            m["strategy"],
            ", ".join(trainings(n) for n in m["trainings"]),
        ]
        for m in sorted(data["trainings_to_match_random"], key=lambda m: (m["task"], order.index(m["strategy"])))
    ]
    o = data["nsga2_overhead"]
    seeds = {strategy: len(histories) for (_, strategy), histories in curves.items()}  # per task: the same
    if len(set(seeds.values())) <= 1:
        seeds_text = f"{args['seeds']} seeds per strategy"
    else:  # a reference run with other seeds than this one's
        ordered = sorted(seeds.items(), key=lambda kv: order.index(kv[0]))
        seeds_text = "seeds: " + ", ".join(f"{strategy} {n}" for strategy, n in ordered)
    return "\n\n".join(
        [
            f"{seeds_text}; at most {args['max_params']:,.0f} parameters; random search gets "
            f"{args['random_trainings']:g} trainings, every other strategy {args['max_trainings']:g}; checkpoint "
            f"`{Path(args['checkpoint']).name}`. Cell: test accuracy of the best student so far (chosen by "
            "validation accuracy, full-budget trainings only), mean ± std over seeds.",
            table(["task", "strategy", *(f"@{p:g}" for p in points)], rows, [False, False, True, True, True, True]),
            f"Trainings each seed's run needed to reach random search's mean accuracy after "
            f"{args['random_trainings']:g} trainings:\n\n" + table(["task", "strategy", "trainings"], matches),
            f"NSGA-II without rungs, population {o['population']}, {o['generations']} generations, predictor "
            f"fitness ({o['evaluations']:,} evaluations): {o['total_s']:.1f} s for {o['architectures_costed']:,} "
            f"distinct architectures priced (predictor {o['predictor_s']:.1f} s, parameter counts {o['cost_s']:.1f} s, "
            f"pymoo and decoding {o['pymoo_and_decoding_s']:.1f} s).",
            *from_reference(
                data["runs"],
                "Read from earlier result files rather than run again (a strategy that never calls the predictor)",
            ),
            f"![search efficiency]({plot})",
        ]
    )


def render_fresh_seeds(data: dict) -> str:
    by_task: dict[str, list[dict]] = {}
    for run in data["runs"]:
        by_task.setdefault(run["task"], []).append(run)
    rows = [
        [short_task(task), *(pm(r[f"at_{p}"] for r in runs) for p in (5, 10, 20))]
        + [", ".join(f3(r["at_20"]) for r in runs)]
        for task, runs in by_task.items()
    ]
    seeds = sorted({r["seed"] for r in data["runs"]})
    return "\n\n".join(
        [
            f"Made by: `{data['command']}`; seeds {', '.join(map(str, seeds))}.",
            table(["task", "@5", "@10", "@20", "per seed @20"], rows, [False, True, True, True, False]),
        ]
    )


def render_reseed(data: dict) -> str:
    groups: dict[tuple, list[dict]] = {}
    for p in data["picks"]:
        groups.setdefault((p["task"], p["strategy"], p["at_trainings"]), []).append(p)
    order = ["ours", "autodistil", "uniads", "autokd", "diswot", "random"]
    rows = [
        [
            short_task(task),
            f"{strategy} @{point:g}" + (f" ({len(ps)} runs)" if len(ps) != 3 else ""),
            pm(p["test_acc_found"] for p in ps),
            pm(float(np.mean(p["test_acc_reseeded"])) for p in ps),
        ]
        for (task, strategy, point), ps in sorted(groups.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1])))
    ]
    seeds = sorted({len(p["test_acc_reseeded"]) for p in data["picks"]})
    return "\n\n".join(
        [
            f"Each pick retrained with {' or '.join(map(str, seeds))} fresh seeds; mean ± std over a strategy's runs.",
            table(["task", "strategy", "as found", "retrained, fresh seeds"], rows, [False, False, True, True]),
            *from_reference(data["picks"], "Picks read from earlier result files"),
        ]
    )


def render_search_tuning(data: dict) -> str:
    rows = []
    for name in data["args"]["variants"]:
        runs = [r for r in data["runs"] if r["variant"] == name]
        rows.append(
            [
                f"`{name}`",
                f"{np.mean([r['full_budget_trainings'] for r in runs]):.1f}",
                pm(r["at_10"] for r in runs),
                pm(r["at_20"] for r in runs),
                " / ".join(f3(r["at_20"]) for r in sorted(runs, key=lambda r: r["seed"])),
            ]
        )
    seeds = data["args"]["seeds"]
    population = data["args"].get("population", 32)  # the first runs had no --population: 32
    return "\n\n".join(
        [
            f"Task `{data['task']}`, teacher `{data['teacher']}`, {seeds} seeds per variant, NSGA-II population "
            f"{population} unless the variant says otherwise.",
            table(
                ["variant", "full-budget students per run", "@10", "@20", "@20 by seed"],
                rows,
                [False, True, True, True, True],
            ),
        ]
    )


def render_generic(data: dict) -> str:
    """A result file whose benchmark has no renderer of its own: its scalars, and each list of rows as a table."""
    parts = []
    scalars = {k: v for k, v in data.items() if not isinstance(v, (dict, list))}
    if scalars:
        parts.append(table(["field", "value"], sorted(scalars.items())))
    for key, value in sorted(data.items()):
        if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            columns = list(value[0])
            rows = [[f3(r.get(c)) if isinstance(r.get(c), float) else r.get(c, "") for c in columns] for r in value]
            parts.append(f"`{key}`:\n\n" + table(columns, rows))
        elif isinstance(value, dict) and key != "measured":
            parts.append(f"`{key}`: `{json.dumps(value, sort_keys=True)}`")
    return "\n\n".join(parts)


def run_time_sum(field: str, rows: Callable[[dict], Iterable[dict]], what: str) -> Callable[[dict], str]:
    """A run-time cell: the sum of ``field`` over the result file's ``rows`` (only what the file records)."""

    def cell(data: dict) -> str:
        seconds = [r[field] for r in rows(data) if r.get(field) is not None]
        return f"{sum(seconds):,.0f} s {what}" if seconds else "not recorded"

    return cell


def render_adapt_methods(data: dict) -> str:
    """`predictor_adapt_methods`: each adaptation's Spearman and MAE against zero-shot on the same records."""
    rows = []
    for method, r in data["methods"].items():
        zero, adapted = r["ours (zero-shot, same records)"], r["ours (adapted 10)"]
        rows.append(
            [
                method,
                f3(zero["spearman"]),
                f3(adapted["spearman"]),
                f3(zero["mae"]),
                f3(adapted["mae"]),
                r["groups"],
                f"{r['seconds']:,.0f}",
            ]
        )
    header = ["method", "zero-shot Spearman", "adapted Spearman", "zero-shot MAE", "adapted MAE", "groups", "seconds"]
    return f"{data['split']} split of `{data['data']['file']}`, `{data['checkpoint']}`:\n\n" + table(header, rows)


def render_calibration(data: dict) -> str:
    """`predictor_calibration`: coverage of +-1 and +-2 sigma, raw and calibrated."""
    rows = []
    for name, key in (("raw ensemble spread", "raw"), ("calibrated on meta-validation", "calibrated")):
        r = data[key]
        scale, floor = r["calibration"]
        rows.append(
            [
                name,
                f"{scale:.3f} / {floor:.4f}",
                f"{r['val']['within_1sigma']:.1%}",
                f"{r['test']['within_1sigma']:.1%}",
                f"{r['test']['within_2sigma']:.1%}",
                f3(r["test"]["median_sigma"]),
            ]
        )
    header = ["uncertainty", "scale / floor", "±1σ meta-val", "±1σ meta-test", "±2σ meta-test", "median σ (test)"]
    return table(header, rows)


def render_trainer_ab(data: dict) -> str:
    """`trainer_cpu_ab`: this tree's CPU training time over an older commit's, pair by pair."""
    rows = [
        [kind, f"{r['median']:.3f}", f"{r['min']:.3f}", f"{r['max']:.3f}"]
        for kind, r in (("CPU seconds", data["cpu_ratio"]), ("wall seconds", data["wall_ratio"]))
    ]
    return (
        f"this tree / `{data['base']}`, {len(data['pairs'])} pairs, the same test accuracy "
        f"({data['test_acc']:.4f}) in both:\n\n" + table(["ratio", "median", "min", "max"], rows)
    )


def render_meta_stats(data: dict) -> str:
    """``meta_dataset_stats.py``'s file: counts, the noise ceiling per task family, and the KD gain per source."""
    files = data["data"] if isinstance(data["data"], list) else [data["data"]]
    counts = (
        f"{', '.join(f'`{Path(f).name}`' for f in files)}: {data['records']:,} records, {data['tasks']} tasks, "
        f"{data['groups']} (task, teacher) groups, {data['students']:,} students ({data['controls']:,} no-distillation "
        f"controls among the records); labels average {data['label_seeds']} seeds, "
        f"{data['students_with_twice_the_label_seeds']:,} students have twice as many (the measured ceiling)."
    )
    ceiling = table(
        ["task family", "pairs", "one seed", "min", f"{data['label_seeds']}-seed labels (Spearman-Brown)",
         "pairs with twice the seeds", "measured"],
        [
            [c["family"], c["pairs"], f3(c["one_seed"]), f3(c["one_seed_min"]), f3(c["label_seeds_predicted"]),
             c["pairs_measured"], f3(c["label_seeds_measured"])]
            for c in data["noise_ceiling"]
        ],
        [False, True, True, True, True, True, True],
    )  # fmt: skip
    parts = [
        counts,
        "Noise ceiling (Spearman between two independent labels of the same students), per task family:",
        ceiling,
    ]
    if "per_source" not in data:  # a file written before the script reported it
        return "\n\n".join(parts)
    gains = table(
        ["source", "records", "tasks", "architectures", "KD gain: mean", "median", "p10", "p90", "KD hurts"],
        [
            [s["source"], f"{s['records']:,}", s["tasks"], s["kd_gain"]["n"]]
            + (
                [f"{s['kd_gain'][k]:+.3f}" for k in ("mean", "median", "p10", "p90")]
                + [f"{s['kd_gain']['kd_hurts']:.0%}"]
                if s["kd_gain"]["n"]
                else ["–"] * 5
            )
            for s in data["per_source"]
        ],
        [False, True, True, True, True, True, True, True, True],
    )
    parts += ["What distillation buys per architecture (its distilled students' mean label minus its control's):"]
    parts.append(gains)
    if data.get("what_orders"):
        order = ("params", "FLOPs", "blocks", "stages", "mean kernel", "first width", "last width")
        names = sorted((k for k in data["what_orders"][0] if k not in ("source", "groups")), key=order.index)
        parts.append(
            "Which CNN students do well: Spearman between the labels and each student's size or shape, mean over a "
            "source's (task, teacher) groups:"
        )
        parts.append(
            table(
                ["source", "groups", *names],
                [
                    [o["source"], o["groups"], *(f"{o[n]:+.2f}" if n in o else "–" for n in names)]
                    for o in data["what_orders"]
                ],
                [False] + [True] * (len(names) + 1),
            )  # fmt: skip
        )
    return "\n\n".join(parts)


def render_leave_one_family_out(data: dict) -> str:
    """``leave_one_family_out.py``'s file: one row per held-out family, zero-shot and adapted, beside the baselines,
    the ceiling, the calibration and the KD-gain prediction."""
    settings, folds = data["settings"], data["folds"]
    cross = data.get("cross_fitted_calibration", {}).get("folds", {})

    def spearman(fold: dict, method: str) -> str:
        return f3(fold["mean"].get(method, {}).get("spearman"))

    rows, adapt_rows, other_rows = [], [], []
    for family, fold in folds.items():
        zero = fold["mean"].get("ours (zero-shot)", {})
        ceiling = fold["noise_ceiling"]
        ratio = zero.get("spearman", np.nan) / ceiling if ceiling else np.nan
        rows.append(
            [
                family,
                f"{fold['test']['groups']} of {fold['test'].get('groups_of_family', fold['test']['groups'])}",
                spearman(fold, "ours (zero-shot)"),
                f3(ceiling),
                f"{ratio:.2f}×" if np.isfinite(ratio) else "–",
                f3(zero.get("p@10%")),
                f3(fold.get("top10_ceiling", {}).get("ceiling")),
                f3(zero.get("mae")),
                spearman(fold, "params"),
                spearman(fold, "FLOPs"),
                spearman(fold, "random forest"),
            ]
        )
        adapted = {m: fold["mean"].get(f"ours (adapted 10{m})", {}) for m in ("", ", residual", ", guarded")}
        adapt_rows.append(
            [
                family,
                spearman(fold, "ours (zero-shot, same records)"),
                *(f"{f3(a.get('spearman'))} / {f3(a.get('mae'))}" for a in adapted.values()),
                f3(fold.get("mae_noise_floor", {}).get("mae_floor")),
            ]
        )
        kd, cov = fold.get("kd_gain_prediction", {}), fold["coverage"]
        other_rows.append(
            [
                family,
                f3(cov["within_1sigma"]),
                f3(cross.get(family, {}).get("within_1sigma")),
                f3(fold["mean"].get("ours (adapted 10)", {}).get("within 1 sigma")),
                f"{kd['measured_hurts']:.0%}" if kd.get("n") else "–",
                f"{kd['predicted_hurts']:.0%}" if kd.get("n") else "–",
                f3(kd.get("hurts_recall")),
                f3(kd.get("gain_spearman")),
            ]
        )
    data_files = ", ".join(f"`{name}`" for name in settings["data"])
    overrides = {k: v for k, v in settings["hyper_parameters"].items() if k not in ("n_jobs",)}
    return "\n\n".join(
        [
            f"Data: {data_files}; label seeds {settings['label_seeds']}; hyper-parameters "
            f"`{json.dumps(overrides, sort_keys=True)}`"
            + (f"; teacher families left out of training: {settings['exclude_teachers']}"
               if settings["exclude_teachers"] else "")
            + (f"; at most {settings['max_groups']} groups scored per family (a seeded sample)"
               if settings.get("max_groups") else "")
            + (f"; the (task, teacher) groups whose seed-0 and seed-1 accuracies agree below a Spearman of "
               f"{settings['min_reliability']:g} left out of each fold's training ({left_out_text(folds)})"
               if "min_reliability" in settings else "")
            + f". Families scored so far: {len(folds)}.",
            "Zero-shot, per held-out family (means over its (task, teacher) groups; ratio = Spearman / ceiling; "
            "top-10 % ceiling: the top-10 % precision a predictor that knew every student's expected accuracy "
            "would score against these labels, from the family's seed-to-seed spread at each accuracy level; – "
            "where scored before it was measured):",
            table(
                ["held out", "groups", "Spearman", "noise ceiling", "ratio", "top-10 %", "top-10 % ceiling", "MAE",
                 "params", "FLOPs", "random forest"],
                rows,
                [False, True, True, True, True, True, True, True, True, True, True],
            ),
            "Adapted to 10 records of a group (Spearman / MAE on the group's other students, mean over 5 draws), "
            "beside zero-shot on the same records, and the MAE's noise floor: what a predictor that knew every "
            "student's expected accuracy would score against these labels, from the family's seed-to-seed spread:",
            table(
                ["held out", "zero-shot, same records", "fine-tuned", "residual GP", "guarded", "MAE noise floor"],
                adapt_rows,
                [False, True, True, True, True, True],
            ),
            "Calibration (share of measured accuracies inside the predicted ±1σ; target 0.60–0.75): zero-shot, with "
            "the interval calibrated on the other families' meta-validation tasks and cross-fitted on the other "
            "held-out families; and fine-tuned on 10 records, the interval re-scaled for the task by the records' "
            "out-of-fold errors (on the group's other students; – where scored before that existed). Whether the "
            "predictor knows when distillation hurts (zero-shot, per architecture: distilled students' mean against "
            "the no-distillation control's):",
            table(
                ["held out", "±1σ (val)", "±1σ (cross-fitted)", "±1σ (adapted 10)", "KD hurts (measured)",
                 "predicted to hurt", "recall of hurts", "gain Spearman"],
                other_rows,
                [False, True, True, True, True, True, True, True],
            ),
        ]
    )  # fmt: skip


def left_out_text(folds: dict) -> str:
    """How many groups each fold left out of its training as unreliable, e.g. ``digits 4, textures 5``."""
    counts = [f"{family} {len(fold['train'].get('left_out_unreliable', {}))}" for family, fold in folds.items()]
    return ", ".join(counts) or "no fold yet"


def render_lofo_beside(reference: str | tuple[str, ...], families: dict[str, str]) -> Callable[[dict], str]:
    """A renderer of a ``leave_one_family_out.py`` file that also sets each fold of ``families`` (fold -> the fold
    of the ``reference`` result file to compare with; several files: one row for each) beside that fold on the
    (task, teacher) groups both scored: the mean zero-shot and fine-tuned Spearman per group, read from both
    files' ``per_group``."""
    references = (reference,) if isinstance(reference, str) else reference

    def render(data: dict) -> str:
        refs = {}
        for name in references:
            ref_path = RESULTS_DIR / name
            refs[name] = json.loads(ref_path.read_text())["folds"] if ref_path.is_file() else {}
        rows = []
        for family, ref_family, reference in (
            (family, ref_family, name) for family, ref_family in families.items() for name in references
        ):
            here, there = data["folds"].get(family), refs[reference].get(ref_family)
            if here is None or there is None:
                continue
            common = sorted(set(here["per_group"]) & set(there["per_group"]))
            row = [family, f"`{ref_family}` of `{reference}`", len(common)]
            for method in ("ours (zero-shot)", "ours (adapted 10)"):
                a = np.array([here["per_group"][g].get(method, np.nan) for g in common], float)
                b = np.array([there["per_group"][g].get(method, np.nan) for g in common], float)
                if not len(common) or np.isnan(a).any() or np.isnan(b).any():
                    row += ["–", "–", "–"]
                    continue
                p = wilcoxon(a, b).pvalue if len(common) >= 6 and (a != b).any() else None
                equal = int((a == b).sum())  # the same predictor on the same students scores a group the same
                better = f"{(a > b).sum()} of {len(common)}" + (f", {equal} equal" if equal else "")
                row += [f3(a.mean()), f3(b.mean()), better + ("" if p is None else f" (p {p:.2g})")]
            # the top-10 % precision per group is not kept: the folds' means, when they scored the same groups
            same = set(here["per_group"]) == set(there["per_group"])
            row += [f3(f["mean"].get("ours (zero-shot)", {}).get("p@10%")) if same else "–" for f in (here, there)]
            # groups this fold scored and the other did not (new data): how many, their mean zero-shot Spearman
            new = sorted(set(here["per_group"]) - set(there["per_group"]))
            zs = [here["per_group"][g].get("ours (zero-shot)", np.nan) for g in new]
            row += [f"{len(new)}: {f3(float(np.mean(zs)))}" if new else "–"]
            rows.append(row)
        text = render_leave_one_family_out(data)
        if not rows:
            return text
        return "\n\n".join(
            [
                text,
                "The same (task, teacher) groups in the fold compared with: mean Spearman per group here and there, "
                "and the groups ranked better here (Wilcoxon signed-rank p, paired by group, from 6 groups); the "
                "zero-shot top-10 % precision here and there where both scored the same groups; the groups scored here "
                "only, and their mean zero-shot Spearman:",
                table(
                    [
                        "held out",
                        "compared with",
                        "groups",
                        "zero-shot",
                        "there",
                        "better here",
                        "fine-tuned 10",
                        "there",
                        "better here",
                        "top-10 %",
                        "there",
                        "only here: groups, zero-shot",
                    ],
                    rows,
                    [False, False, True, True, True, True, True, True, True, True, True, True],
                ),
            ]
        )

    return render


def render_predictor_transformers(data: dict) -> str:
    """``predictor_transformers.py``'s file: held-out tasks' transformer (and CNN) groups."""
    rows = []
    for name in ("transformer students", "CNN students"):
        if name not in data:
            continue
        r, m = data[name], data[name]["mean"]

        def sp(method: str, m: dict = m) -> str:
            return f3(m.get(method, {}).get("spearman"))

        rows.append(
            [name, r["groups"], sp("ours (zero-shot)"), sp("ours (zero-shot, same records)"), sp("ours (adapted 10)"),
             sp("params"), sp("FLOPs"), sp("random forest"), f3(r["noise_ceiling"])]
        )  # fmt: skip
    t = data["train"]
    return "\n\n".join(
        [
            f"Held out whole: {len(data['test_tasks'])} tasks; meta-trained on {t['records']:,} records of "
            f"{t['tasks']} tasks ({t['transformer_records']:,} of them transformer students).",
            table(
                [
                    "students",
                    "groups",
                    "zero-shot",
                    "zero-shot, same records",
                    "adapted 10",
                    "params",
                    "FLOPs",
                    "random forest",
                    "noise ceiling",
                ],
                rows,
                [False, True, True, True, True, True, True, True, True],
            ),  # fmt: skip
        ]
    )
