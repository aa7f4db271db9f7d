"""What a search run leaves behind: the verified front (CSV + JSON), the best student, plots and a report.

Plots use ``matplotlib.figure.Figure`` directly (no pyplot, no global state, no display needed).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from distill.genome import Genome
from distill.io import write_atomic, write_json
from distill.job import THREADS_PER_WORKER, train_student
from distill.nets import Normalised
from distill.teachers import teacher_outputs
from distill.trainer import TrainConfig
from search.problem import COST_UNITS, format_cost
from search.rungs import non_dominated

__all__ = [
    "FRONT_COLUMNS",
    "format_front",
    "front_rows",
    "plot_best_vs_trainings",
    "plot_pareto",
    "plot_predicted_vs_measured",
    "save_best",
    "write_front",
    "write_report",
]

FRONT_COLUMNS = (
    "genome_hash",
    "cost",
    "params",
    "flops",
    "latency_ms",
    "predicted_acc",
    "predicted_std",
    "val_acc",
    "test_acc",
    "budget",
    "recipe",
    "genome",
)


def recipe_str(recipe: dict[str, Any]) -> str:
    """A short human form of a recipe, e.g. ``ce 0.5 + kl T=4 x1 + hint mid/attention/mse x2``."""
    parts = [f"ce {recipe['ce_weight']:g}"]
    if recipe["logit_loss"] != "none":
        t = f" T={recipe['temperature']:g}" if recipe["logit_loss"] in ("kl", "dist") else ""
        parts.append(f"{recipe['logit_loss']}{t} x{recipe['kd_weight']:g}")
    if recipe["hint_position"] != "off":
        parts.append(
            f"hint {recipe['hint_position']}/{recipe['hint_transform']}/{recipe['hint_distance']} "
            f"x{recipe['hint_weight']:g}"
        )
    return " + ".join(parts)


def front_rows(run: Any) -> list[dict[str, Any]]:
    """The verified front: full-budget trainings of feasible students that no other one beats in both
    measured validation accuracy and cost, cheapest first. Every accuracy is a record of the run's store."""
    results = run.full_results()
    if not results:
        return []
    genomes = [m.genome for m in results]
    cost = run.cost(genomes)
    accuracy = np.array([m.val_acc for m in results])
    kinds = ["params", "flops"] + (["latency"] if "latency" in (run.config.objective, *run.limits) else [])
    rows = []
    for i in non_dominated(accuracy, cost):
        m = results[i]
        costs = run.costs.all_of(m.genome, kinds)
        predicted = run.predictions.get(m.genome.hash)
        rows.append(
            {
                "genome_hash": m.genome.hash,
                "cost": float(cost[i]),
                "params": int(costs["params"]),
                "flops": int(costs["flops"]),
                "latency_ms": costs.get("latency"),
                "predicted_acc": predicted[0] if predicted else None,
                "predicted_std": predicted[1] if predicted else None,
                "val_acc": float(m.val_acc),
                "test_acc": None if m.test_acc is None else float(m.test_acc),
                "budget": int(m.budget),
                "recipe": m.genome.to_dict()["recipe"],
                "genome": m.genome.to_dict(),
            }
        )
    return rows


def empty_front_reason(run: Any, cap: float | None) -> str:
    """Why a run has no verified student, on one line: failed trainings (the first reason), no training
    at the full budget before the training budget (``cap`` trainings) ran out, or full-budget trainings
    that diverged."""
    records = run.trainer.ledger_records()
    failed = [r for r in records if r["state"] == "failed"]
    if failed:
        return (
            f"{len(failed)} of {len(records)} trainings failed; the first: {failed[0]['error']} "
            "(records.db holds every reason)"
        )
    full = [r for r in records if r["budget"] == run.config.full_budget]
    if not full:
        cap_text = "" if cap is None else f" (--max-trainings {cap:g})"
        return (
            f"no student was trained at the full budget of {run.config.full_budget} epoch(s) before the "
            f"training budget{cap_text} ran out; raise --max-trainings"
        )
    diverged = sum(r["status"] == "diverged" for r in full)
    return f"{len(full)} full-budget training(s) gave no usable accuracy ({diverged} diverged)"


def write_front(out: Path, rows: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    """``front.json`` (rows plus what they are) and ``front.csv`` (genome and recipe as JSON cells)."""
    write_json(out / "front.json", {**meta, "front": rows})
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(FRONT_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                json.dumps(row[c], sort_keys=True) if isinstance(row[c], dict) else ("" if row[c] is None else row[c])
                for c in FRONT_COLUMNS
            ]
        )
    write_atomic(out / "front.csv", text.getvalue())


def format_front(rows: list[dict[str, Any]], objective: str, strategy: str | None = None) -> str:
    """The verified front as a text table; for ``autodistil`` the estimate column is the inherited-weight accuracy."""
    if not rows:
        return "no verified student: no full-budget training of a student under the budget succeeded"
    unit = COST_UNITS[objective]
    estimate = "inherited" if strategy == "autodistil" else "predicted"
    head = f"{'student':<17}{objective + ' (' + unit + ')':>24}{'val acc':>9}{'test acc':>9}{estimate:>16}  recipe"
    lines = [head, "-" * len(head)]
    for r in rows:
        predicted, test = _accuracy_cells(r, inherited=strategy == "autodistil")
        lines.append(
            f"{r['genome_hash']:<17}{format_cost(objective, r['cost']):>24}{r['val_acc']:>9.4f}{test:>9}"
            f"{predicted:>16}  {recipe_str(r['recipe'])}"
        )
    return "\n".join(lines)


def _accuracy_cells(r: dict[str, Any], inherited: bool = False) -> tuple[str, str]:
    """A front row's predicted accuracy (mean ± std; an inherited-weight accuracy has no std) and test accuracy
    as text; ``-`` where missing."""
    if r["predicted_acc"] is None:
        predicted = "-"
    else:
        predicted = f"{r['predicted_acc']:.3f}" + ("" if inherited else f" ± {r['predicted_std']:.3f}")
    test = f"{r['test_acc']:.4f}" if r["test_acc"] is not None else "-"
    return predicted, test


def save_best(run: Any, row: dict[str, Any], directory: Path) -> dict[str, Any]:
    """Retrain the best student at the full budget with the search's seed and save its weights.

    The run's trainings happen in workers that keep no weights, so the best one is trained once more,
    single-threaded like a worker: on the CPU that reproduces the stored run exactly, and
    ``metrics.json`` says whether it did (``reproduced``).
    """
    genome = Genome.from_dict(row["genome"])
    outputs = teacher_outputs(run.teacher, run.task) if genome.recipe.distills else None
    config = TrainConfig(epochs=run.config.full_budget, device=run.config.device)
    trained = train_student(
        genome,
        run.task,
        outputs,
        config,
        seed=run.config.seed,
        threads=THREADS_PER_WORKER,
        precision=run.config.precision,
    )
    result = trained.result
    metrics = trained.metrics(
        run.config.teacher,
        run.teacher.id,
        genome_hash=genome.hash,
        store_val_acc=row["val_acc"],
        store_test_acc=row["test_acc"],
        reproduced=result.val_acc == row["val_acc"] and result.test_acc == row["test_acc"],
        input={  # how to feed the student: images in [0, 1] at this shape, then this normalisation
            "shape": list(run.task.in_shape),
            "mean": list(run.task.input_mean),
            "std": list(run.task.input_std),
            "class_names": run.task.class_names,
        },
    )
    trained.save(directory, metrics)
    scripted = torch.jit.script(Normalised(trained.student.cpu().eval(), run.task.input_mean, run.task.input_std))
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    write_atomic(directory / "student_scripted.pt", buffer.getvalue())
    return metrics


# ------------------------------------------------------------------------------------------ plots
def _figure(width: float = 6.4, height: float = 4.6):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.add_subplot()


def plot_pareto(path: Path, run: Any, rows: list[dict[str, Any]]) -> None:
    """Predicted (or low-fidelity) final population, every full-budget training and the verified front."""
    fig, ax = _figure()
    view = run.population_view
    if view:
        feasible = np.asarray(view["feasible"], dtype=bool)
        cost, acc, std = (np.asarray(view[k], dtype=float) for k in ("cost", "acc", "std"))
        ax.errorbar(
            cost[feasible],
            acc[feasible],
            yerr=std[feasible],
            fmt="o",
            ms=3,
            color="0.6",
            alpha=0.7,
            label=view["label"],
        )
    measured = run.full_results()
    if measured:
        ax.scatter(
            run.cost([m.genome for m in measured]),
            [m.val_acc for m in measured],
            s=18,
            color="tab:blue",
            label=f"measured, {run.config.full_budget} epochs",
        )
    if rows:
        ax.step([r["cost"] for r in rows], [r["val_acc"] for r in rows], where="post", color="tab:red")
        ax.scatter(
            [r["cost"] for r in rows], [r["val_acc"] for r in rows], s=40, color="tab:red", label="verified front"
        )
    limit = run.limits.get(run.config.objective)
    if limit is not None:
        ax.axvline(limit, color="k", ls="--", lw=1, label="budget")
    if run.config.objective in ("params", "flops"):
        ax.set_xscale("log")
    ax.set_xlabel(f"{run.config.objective} ({COST_UNITS[run.config.objective]})")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"{run.config.strategy}: {run.task.name} / {Path(run.config.teacher).name}")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120, bbox_inches="tight")


# A rank correlation of fewer pairs is mostly noise (with 11 its 95% interval spans about 1.2 of its [-1, 1]):
# below this many, the plot and the report say how few pairs there are and print none.
MIN_RANK_PAIRS = 20


def rank_correlation(pred: np.ndarray, true: np.ndarray) -> dict[str, float] | None:
    """Spearman's rho of ``pred`` and ``true`` with a 95% interval (Fisher z, standard error
    ``1.06 / sqrt(n - 3)``, Fieller et al. 1957); ``None`` below :data:`MIN_RANK_PAIRS` pairs or without spread."""
    from scipy.stats import spearmanr

    n = len(pred)
    if n < MIN_RANK_PAIRS or np.ptp(pred) == 0 or np.ptp(true) == 0:
        return None
    rho = float(spearmanr(pred, true).statistic)
    z, half = np.arctanh(np.clip(rho, -0.999999, 0.999999)), 1.96 * 1.06 / np.sqrt(n - 3)
    return {"spearman": rho, "low": float(np.tanh(z - half)), "high": float(np.tanh(z + half))}


def describe_rank_quality(quality: dict[str, Any]) -> str:
    """One line on how well the predictions ranked the measured students, with how many there were."""
    n = quality["n"]
    if quality.get("spearman") is None:
        return (
            f"n={n} student(s) predicted and then measured: too few for a rank correlation (it needs {MIN_RANK_PAIRS})"
        )
    return (
        f"Spearman {quality['spearman']:.2f} over n={n} students (95% interval {quality['low']:.2f} to "
        f"{quality['high']:.2f})"
    )


def plot_predicted_vs_measured(path: Path, run: Any) -> dict[str, float | int | None]:
    """Prediction made when a student was chosen for training vs its measured full-budget accuracy.

    Returns:
        ``{"n": pairs, "spearman": rank correlation or None, "low", "high": its 95% interval}``; ``None`` below
        :data:`MIN_RANK_PAIRS` pairs (see :func:`rank_correlation`).
    """
    measured = {m.genome.hash: m.val_acc for m in run.full_results()}
    pairs = [(run.predictions[h][0], run.predictions[h][1], acc) for h, acc in measured.items() if h in run.predictions]
    fig, ax = _figure(5.0, 5.0)
    quality: dict[str, Any] = {"n": len(pairs), "spearman": None}
    if pairs:
        pred, std, true = (np.array(c) for c in zip(*pairs))
        ax.errorbar(pred, true, xerr=std, fmt="o", ms=4)
        lo, hi = float(min(pred.min(), true.min())), float(max(pred.max(), true.max()))
        ax.plot([lo, hi], [lo, hi], color="0.5", ls="--", lw=1)
        quality.update(rank_correlation(pred, true) or {})
        ax.set_title(describe_rank_quality(quality), fontsize=8, wrap=True)
    else:
        ax.text(0.5, 0.5, "no predicted student was trained at the full budget", ha="center", transform=ax.transAxes)
    ax.set_xlabel("predicted accuracy (when chosen for training)")
    ax.set_ylabel(f"measured validation accuracy ({run.config.full_budget} epochs)")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return quality


def plot_best_vs_trainings(
    path: Path, history: list[dict[str, Any]], label: str, chance: float | None = None
) -> tuple[float, float]:
    """Best measured accuracy under the budget against the trainings paid for (full-budget equivalents).

    The accuracy axis starts at chance (``chance``, 1 / classes; drawn) and ends at 1, so a gain reads at its
    true size: an axis fitted to the curve made 0.995 -> 1.000 look like a leap. The title states the gain.

    Returns:
        The accuracy axis's limits.
    """
    fig, ax = _figure()
    points = [(h["trainings"], h["best_val_acc"]) for h in history if h["best_val_acc"] is not None]
    if points:
        x, y = zip(*points)
        ax.step(x, y, where="post", marker="o", ms=3, label=label)
        first, last = points[0], points[-1]
        ax.set_title(
            f"best {first[1]:.4f} after {first[0]:.2f} trainings, {last[1]:.4f} after {last[0]:.2f} "
            f"({last[1] - first[1]:+.4f})",
            fontsize=9,
        )
    floor = 0.0 if chance is None else chance
    if chance is not None:
        ax.axhline(chance, color="0.5", ls=":", lw=1, label=f"chance ({chance:.2f})")
    low = min([floor, *(p[1] for p in points)])
    ax.set_ylim(max(0.0, low - 0.02), 1.005)
    if points or chance is not None:
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xlabel("trainings (full-budget equivalents: sum of epochs / full budget)")
    ax.set_ylabel("best validation accuracy under the budget")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return ax.get_ylim()


def write_report(
    path: Path, run: Any, rows: list[dict[str, Any]], best: dict[str, Any] | None, notes: dict[str, Any]
) -> None:
    c = run.config
    limits = ", ".join(f"{k} <= {format_cost(k, v)}" for k, v in run.limits.items()) or "none"
    by_budget: dict[int, int] = {}
    for key in run.trainer.ledger:
        by_budget[key.budget] = by_budget.get(key.budget, 0) + 1
    lines = [
        f"# dass search: {run.task.name} / {c.teacher}",
        "",
        f"- strategy: `{c.strategy}`"
        + (f" ({notes['strategy_description']})" if notes.get("strategy_description") else "")
        + f"; objective: {c.objective}; budget: {limits}; seed {c.seed}",
        f"- teacher id {run.teacher.id}; task id {run.task.id}; search space `{c.space}`",
        f"- trainings: {run.trainer.spent:.2f} full-budget equivalents ({c.full_budget} epochs each); "
        + ", ".join(f"{n} at {b} epoch(s)" for b, n in sorted(by_budget.items())),
        f"- wall time: {notes['wall_s']:.0f} s"
        + (
            f" over {notes['sessions']} sessions (this one {notes['session_s']:.0f} s)"
            if notes.get("sessions", 1) > 1
            else ""
        ),
    ]
    if run.trainer.charges:  # work paid for outside the record store (a strategy's supernets)
        lines.append(
            "- of which outside the trainings: "
            + ", ".join(f"{name} {value:.2f}" for name, value in sorted(run.trainer.charges.items()))
        )
    if notes.get("predicted_vs_measured", {}).get("n"):
        lines.append(f"- predicted vs measured: {describe_rank_quality(notes['predicted_vs_measured'])}")
    for name, text in getattr(run, "notes", {}).items():  # what the strategy decided, in its own words
        lines.append(f"- {name}: {text}")
    lines += [
        "",
        "## Verified Pareto front",
        "",
        "measured validation / test accuracy at the full budget; "
        + ("inherited" if c.strategy == "autodistil" else "predicted")
        + " = "
        + (
            "the accuracy with weights inherited from its supernet"
            if c.strategy == "autodistil"
            else "the predictor's estimate when the student was chosen for training"
        ),
        "",
    ]
    estimate = "inherited" if c.strategy == "autodistil" else "predicted"
    lines.append(f"| student | {c.objective} | val acc | test acc | {estimate} | recipe |")
    lines.append("| --- | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        predicted, test = _accuracy_cells(r, inherited=c.strategy == "autodistil")
        lines.append(
            f"| `{r['genome_hash']}` | {format_cost(c.objective, r['cost'])} | {r['val_acc']:.4f} | {test} | "
            f"{predicted} | {recipe_str(r['recipe'])} |"
        )
    if not rows:
        lines.append("| (none) | | | | | |")
    lines += ["", "## Best student", ""]
    if best:
        lines += [
            f"`{best['genome_hash']}`: {best['params']:,} parameters, {best['flops']:,} multiply-adds; "
            f"val acc {best['val_acc']:.4f}, test acc {best['test_acc']:.4f}.",
            "",
            "Its weights (`best/student.pt`) come from training it once more at the full budget with the search's "
            "seed (the search's trainings keep no weights). "
            + (
                "That training reproduced the stored run exactly."
                if best["reproduced"]
                else f"That training did not reproduce the stored run (val acc {best['store_val_acc']:.4f}, test "
                f"acc {best['store_test_acc']:.4f}; GPU kernels, for one, are not bit-deterministic): the figures "
                "above are those of the saved weights."
            ),
        ]
    else:
        lines.append("none saved" + ("" if rows else " (the front is empty)"))
    lines += [
        "",
        "## Files",
        "",
        "`config.json` (settings; `dass search --resume DIR`), `records.db` (every training, SQLite), "
        "`state.json` + `state-*.npz` (search state; `state-previous.json`: the checkpoint before), "
        "`costs.json`, `front.csv`, `front.json`, `best/`, "
        "`pareto.png`, `predicted_vs_measured.png`, `best_vs_trainings.png`.",
        "",
    ]
    write_atomic(path, "\n".join(lines))
