"""How well a predictor ranks students on tasks it never saw, beside baselines and the noise ceiling.

For every meta-test group (one task distilled from one teacher) we compare predicted and measured
final test accuracy of the same students:

* ``ours (zero-shot)`` -- the meta-trained predictor as it is;
* ``ours (adapted k)`` -- after :meth:`AccuracyPredictor.adapt` on ``k`` records of the group, scored
  on the group's other records (mean over several random draws of the ``k``);
* training-free baselines -- parameter count, FLOPs, DisWOT semantic / relation / combined
  similarity, NWOT, SynFlow (measured by the collector at initialisation);
* ``GNN, no-KD data`` -- the same GNN trained only on no-distillation records (a MetaD2A-style,
  distillation-unaware predictor);
* ``random forest`` -- on flat genome features plus the task features, same meta-train split;
* the noise ceiling -- Spearman between two independent labels of the same students: seed 0 against
  seed 1, or, when labels average k seeds, seeds 0..k-1 against k..2k-1; where the students lack the
  2k seeds, the most seeds that do give two independent labels, raised to k by Spearman-Brown. Each
  group counts with the seeds its own labels average (digits students may have four where MNIST
  ones have two). The recipe awareness has the same bound across the recipes of one architecture.

Labels are the mean final test accuracy over training seeds ``0 .. label_seeds-1`` of a student
(:func:`predictor.data.mean_labels`).

Metrics per group: Spearman, Kendall tau, precision of the predicted top 5 % and top 10 %, mean
absolute error (for methods that predict an accuracy). The tables average over groups.
"""

from __future__ import annotations

import logging
import math
import numbers
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.stats import kendalltau, spearmanr

from distill.families import FAMILIES
from distill.genome import Genome, get_space
from distill.progress import Progress
from predictor.data import groups, mean_labels

log = logging.getLogger(__name__)

PROXY_BASELINES = ("diswot", "diswot_semantic", "diswot_relation", "nwot", "synflow")
METRICS = ("spearman", "kendall", "p@5%", "p@10%", "mae")
COVERAGE = "within 1 sigma"  # of the predictor's own rows (zero-shot, adapted): it alone reports an uncertainty
MIN_GROUP_STUDENTS = 5  # a (task, teacher) group is scored when it has at least this many students


def group_sizes(examples: list[dict[str, Any]], label_seeds: int = 2) -> dict[str, int]:
    """Students (labels, after :func:`~predictor.data.mean_labels`) of each (task, teacher) group."""
    return {group: len(exs) for group, exs in groups(mean_labels(examples, label_seeds), seed=None).items()}


def unscorable(examples: list[dict[str, Any]], what: str, label_seeds: int = 2) -> str | None:
    """Why :func:`evaluate` would score no group of ``examples`` (one line naming ``what``), else ``None``."""
    if not examples:
        return f"it has no {what} tasks"
    sizes = group_sizes(examples, label_seeds)
    if max(sizes.values()) >= MIN_GROUP_STUDENTS:
        return None
    return (
        f"no {what} (task, teacher) group has {MIN_GROUP_STUDENTS} or more students (the most: "
        f"{max(sizes.values())}); collect more per pair: a suite's students_per_pair x (recipes_per_student + "
        "controls)"
    )


def rank_metrics(pred: np.ndarray, true: np.ndarray, accuracy: bool = False) -> dict[str, float]:
    """Spearman, Kendall, top-5 % / top-10 % precision (and MAE when ``pred`` is an accuracy)."""
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    ok = np.isfinite(pred)
    pred, true = pred[ok], true[ok]
    out = {m: math.nan for m in METRICS}
    if len(pred) < 3 or np.ptp(true) == 0:
        return out
    if np.ptp(pred) == 0:
        out.update(spearman=0.0, kendall=0.0)
    else:
        out["spearman"] = float(spearmanr(pred, true)[0])
        out["kendall"] = float(kendalltau(pred, true)[0])
    for frac, name in ((0.05, "p@5%"), (0.10, "p@10%")):
        k = max(1, int(round(frac * len(true))))
        top_pred = set(np.argsort(-pred, kind="stable")[:k])
        top_true = set(np.argsort(-true, kind="stable")[:k])
        out[name] = len(top_pred & top_true) / k
    if accuracy:
        out["mae"] = float(np.mean(np.abs(pred - true)))
    return out


def kd_gain(labels: Sequence[dict[str, Any]]) -> dict[str, float]:
    """What distillation buys, per architecture of a (task, teacher) group: the mean label of its distilled
    students minus its no-distillation control's (``labels``: :func:`~predictor.data.mean_labels`). Returns the
    distribution of these gains and ``kd_hurts``, the share of architectures whose distilled students are worse."""
    by_arch: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: {"control": [], "kd": []})
    for e in labels:
        arch = (e["group"], e["tags"].get("arch", e["genome_hash"]))
        by_arch[arch]["control" if e["tags"].get("control") else "kd"].append(e["target"])
    gains = np.array([np.mean(v["kd"]) - np.mean(v["control"]) for v in by_arch.values() if v["kd"] and v["control"]])
    if not len(gains):
        return {"n": 0}
    return {
        "n": int(len(gains)),
        "mean": float(gains.mean()),
        "median": float(np.median(gains)),
        "p10": float(np.percentile(gains, 10)),
        "p90": float(np.percentile(gains, 90)),
        "kd_hurts": float(np.mean(gains < 0)),
    }


def kd_gain_prediction(predictions: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Does the predictor know when distillation pays? Per architecture of a group (``evaluate``'s
    ``predictions``), the predicted gain of its distilled students over its no-distillation control (mean
    predicted accuracy of the distilled minus the control's) against the measured one.

    Returns ``n`` (architectures with both), ``measured_hurts`` / ``predicted_hurts`` (share with a negative
    gain), ``hurts_recall`` (of the architectures KD hurt, the share predicted to be hurt; NaN when none was),
    ``hurts_precision``, ``sign_agreement`` and ``gain_spearman`` (pooled over groups), and the mean measured and
    predicted gains.
    """
    by_arch: dict[tuple, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: {"control": [], "kd": []})
    for p in predictions:
        if "arch" in p:
            by_arch[(p["group"], p["arch"])]["control" if p["control"] else "kd"].append(
                (p["measured"], p["predicted"])
            )
    pairs = [
        (
            np.mean([m for m, _ in v["kd"]]) - np.mean([m for m, _ in v["control"]]),
            np.mean([q for _, q in v["kd"]]) - np.mean([q for _, q in v["control"]]),
        )
        for v in by_arch.values()
        if v["kd"] and v["control"]
    ]
    if not pairs:
        return {"n": 0}
    measured, predicted = (np.array(c) for c in zip(*pairs))
    hurt, predicted_hurt = measured < 0, predicted < 0
    return {
        "n": len(pairs),
        "measured_gain": float(measured.mean()),
        "predicted_gain": float(predicted.mean()),
        "measured_hurts": float(hurt.mean()),
        "predicted_hurts": float(predicted_hurt.mean()),
        "hurts_recall": float(predicted_hurt[hurt].mean()) if hurt.any() else math.nan,
        "hurts_precision": float(hurt[predicted_hurt].mean()) if predicted_hurt.any() else math.nan,
        "sign_agreement": float(np.mean(hurt == predicted_hurt)),
        "gain_spearman": float(spearmanr(predicted, measured)[0])
        if len(pairs) > 2 and np.ptp(predicted) > 0
        else math.nan,
    }


def within_one_sigma(predictions: Sequence[dict[str, Any]]) -> float:
    """Share of ``predictions`` (``evaluate``'s) whose measured accuracy lies within the predicted +-1 sigma."""
    if not predictions:
        return math.nan
    return float(np.mean([abs(p["measured"] - p["predicted"]) <= p["std"] for p in predictions]))


_STAGE_GENE = re.compile(r"^([\w-]+)\.stage(\d+)\.")  # "<family>.stage<i>.<gene>"


def _space_genes(space: Any) -> list[tuple[str, tuple]]:
    """``(gene, choices)`` of a space's vector, each architecture gene named ``<family>.<gene>``: a staged CNN's
    width is the same gene in ``default`` and in ``mixed`` (which already names it so), and not a ViT's width.
    A union space's ``family`` gene is left out (the family-named genes tell the family)."""
    recipe = {gene for gene, _ in space.recipe_choices}
    out = []
    for gene, choices in space.vector_choices():
        if gene in recipe:
            out.append((gene, choices))
        elif _is_union(space):
            if gene != "family":
                out.append((gene, choices))
        else:
            out.append((f"{space.arch.family}.{gene}", choices))
    return out


def _is_union(space: Any) -> bool:
    """A space over several families (``mixed``): its first vector gene picks the family of a genome."""
    first, choices = space.vector_choices()[0]
    return first == "family" and all(c in FAMILIES for c in choices)


def _genome_genes(g: Genome) -> tuple[str, dict[str, Any]]:
    """The family of a genome and the values of its genes, named as in :func:`_space_genes`; a union space's
    genome has only its own member family's genes (the others' vector positions are fillers)."""
    space = get_space(g.space)
    values = {gene: c[i] for i, (gene, c) in zip(g.to_vector(), space.vector_choices())}
    if not _is_union(space):
        family = space.arch.family
        return family, {name: values[gene] for (name, _), (gene, _) in zip(_space_genes(space), space.vector_choices())}
    family = values.pop("family")
    return family, {gene: v for gene, v in values.items() if "." not in gene or gene.startswith(f"{family}.")}


def flat_choices(examples: Sequence[dict[str, Any]]) -> list[tuple[str, tuple]]:
    """The flat encoding's gene positions and choices: those of the search spaces the examples' genomes come
    from, each position with the union of their choices (in first-seen order), so genomes of several spaces
    (e.g. ``default`` at 16x16 and ``wide`` at 32x32) share one encoding. Architecture genes are named with
    their family (``staged_cnn.stage0.width``), so the families' genes never share a column and one student
    is encoded alike in every space that holds it. Examples of one space get exactly that space's choices."""
    names = sorted({Genome.from_json(e["genome"]).space for e in examples})
    union: dict[str, list] = {}
    for name in names:
        for gene, choices in _space_genes(get_space(name)):
            seen = union.setdefault(gene, [])
            seen.extend(c for c in choices if c not in seen)
    return [(gene, tuple(choices)) for gene, choices in union.items()]


def _stage_slots(choices: Sequence[tuple[str, tuple]]) -> list[tuple[str, int]]:
    """``(family, stages)``: the stage positions of each family in the encoding, in first-seen order."""
    slots: dict[str, int] = {}
    for gene, _ in choices:
        m = _STAGE_GENE.match(gene)
        if m:
            slots[m.group(1)] = max(slots.get(m.group(1), 0), int(m.group(2)) + 1)
    return list(slots.items())


def flat_features(example: dict[str, Any], choices: Sequence[tuple[str, tuple]] | None = None) -> np.ndarray:
    """One-hot genome genes, active stages (per family), log parameters, budget and the task's global features
    (for the forest).

    ``choices`` is the encoding (:func:`flat_choices` of the meta-train examples); by default the genome's own
    space's. A gene value outside it (a space the forest never saw) is all zeros, and so are the genes and the
    stage flags of the families the genome is not of.
    """
    g = Genome.from_json(example["genome"])
    family, values = _genome_genes(g)
    choices = _space_genes(get_space(g.space)) if choices is None else choices
    onehot = np.concatenate([[float(values.get(gene) == v) for v in c] for gene, c in choices])
    active = np.array(
        [fam == family and i < len(g.stages) for fam, n in _stage_slots(choices) for i in range(n)], float
    )
    extra = [math.log10(max(1, example.get("params") or 1)), math.log2(example["budget"])]
    return np.concatenate([onehot, active, extra, np.asarray(example["task_features"]["global"], float)])


def noise_ceiling(examples: list[dict[str, Any]], label_seeds: int = 1, min_students: int = 4) -> dict[str, float]:
    """Seed-to-seed Spearman of final accuracy per group: how rankable the labels are.

    With ``label_seeds`` k, a label is the mean of k training seeds; it is compared with an
    independent label of the same student, the mean of seeds k .. 2k-1 (so k=1 compares seeds 0
    and 1). Only students with all 2k seeds count; a group needs at least ``min_students`` of them.
    """
    by_group: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for ex in examples:
        by_group[ex["group"]][ex["genome_hash"]][ex["seed"]] = ex["target"]
    out = {}
    for group, students in by_group.items():
        rho = _label_agreement(students, label_seeds, min_students)
        if rho is not None:
            out[group] = rho
    return out


def unreliable_groups(examples: list[dict[str, Any]], min_reliability: float) -> dict[str, float]:
    """The groups whose labels rank their students too unreliably to learn from: ``{group: agreement}``.

    A group's agreement is the Spearman of its students' seed-0 accuracy against their seed-1 accuracy
    (:func:`noise_ceiling` with one seed); a group whose agreement is below ``min_reliability`` is in the
    result. A group where it cannot be measured (fewer than 4 students with both seeds, or a constant label) is
    not: nothing says it is unreliable.
    """
    if not isinstance(min_reliability, numbers.Real) or isinstance(min_reliability, bool):
        raise ValueError(f"min_reliability must be a number from -1 to 1; got {min_reliability!r}")
    if not -1.0 <= min_reliability <= 1.0:
        raise ValueError(f"min_reliability must be a number from -1 to 1 (a Spearman); got {min_reliability!r}")
    return {g: rho for g, rho in sorted(noise_ceiling(examples, label_seeds=1).items()) if rho < min_reliability}


def _label_agreement(students: dict[str, dict[int, float]], k: int, min_students: int) -> float | None:
    """Spearman between two independent labels (mean of seeds 0..k-1, mean of k..2k-1) of the students that
    have all 2k seeds; None when fewer than ``min_students`` do or either label is constant."""
    first, second = range(k), range(k, 2 * k)
    pairs = [
        (np.mean([s[i] for i in first]), np.mean([s[i] for i in second]))
        for s in students.values()
        if all(i in s for i in (*first, *second))
    ]
    if len(pairs) < min_students:
        return None
    a, b = np.array(pairs).T
    return float(spearmanr(a, b)[0]) if np.ptp(a) > 0 and np.ptp(b) > 0 else None


def spearman_brown(rho: float, k: float) -> float:
    """The reliability of the mean of ``k`` seeds predicted from the one-seed reliability ``rho``.

    The formula holds for a reliability in [0, 1]; a negative agreement (no reliability to raise) is
    returned as it is."""
    if rho <= 0:
        return rho
    return k * rho / (1 + (k - 1) * rho)


def recipe_awareness(pred_by_hash: dict[str, float], examples: list[dict[str, Any]]) -> list[float]:
    """Spearman of predicted vs. measured accuracy across the recipes of one architecture, per architecture."""
    by_arch: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ex in examples:
        by_arch[ex["tags"].get("arch", ex["genome_hash"])].append(ex)
    out = []
    for exs in by_arch.values():
        if len(exs) >= 3:
            p = np.array([pred_by_hash[e["genome_hash"]] for e in exs])
            t = np.array([e["target"] for e in exs])
            if np.ptp(t) > 0 and np.ptp(p) > 0:
                out.append(float(spearmanr(p, t)[0]))
    return out


def recipe_noise_ceiling(examples: list[dict[str, Any]], label_seeds: int = 1) -> list[float]:
    """Seed-to-seed Spearman across the recipes of one architecture, per architecture with independent labels
    (seed 0 against seed 1, or, with ``label_seeds`` k, the mean of seeds 0..k-1 against k..2k-1).

    The bound for :func:`recipe_awareness`: how reproducible the measured ranking of recipes is.
    """
    by_arch: dict[tuple, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for ex in examples:
        by_arch[(ex["group"], ex["tags"].get("arch", ex["genome_hash"]))][ex["genome_hash"]][ex["seed"]] = ex["target"]
    return [rho for recipes in by_arch.values() if (rho := _label_agreement(recipes, label_seeds, 3)) is not None]


def evaluate(
    predictor: Any,
    test: list[dict[str, Any]],
    train: list[dict[str, Any]] | None = None,
    adapt_records: int = 10,
    adapt_draws: int = 5,
    adapt_options: dict[str, Any] | None = None,
    baselines: bool = True,
    control_predictor: Any | None = None,
    seed: int = 0,
    label_seeds: int = 2,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Score ``predictor`` and the baselines on every meta-test group of ``test``.

    Args:
        predictor: a fitted :class:`~predictor.estimator.AccuracyPredictor`.
        test: meta-test examples (:func:`predictor.data.load_records` format).
        train: meta-train examples, for the random-forest baseline (skipped when ``None``).
        adapt_records: records of a group used to adapt before scoring the rest (0 skips adaptation).
        adapt_draws: random draws of those records per group; the adapted metrics are their mean.
        adapt_options: keyword arguments of ``predictor.adapt`` (steps, lr, ...); its defaults when ``None``
            (which re-scale the uncertainty for the group: five more fine-tunings per draw; ``calibrate=False``
            skips them when the coverage is not read).
        baselines: also score the training-free proxies, parameters and FLOPs.
        control_predictor: the same GNN fitted on no-distillation records only (skipped when ``None``).
        seed: picks the adaptation records.
        label_seeds: a student's label is its mean final accuracy over training seeds 0 .. label_seeds-1.
        progress: where to show how far the scoring is (one unit per group); nothing shown when ``None``.

    Returns:
        ``{"groups": {group: {method: metrics}}, "mean": {method: metrics}, "noise_ceiling": ...,
        "recipe_awareness": ..., "predictions": [...]}``
    """
    progress = progress or Progress.off()
    rng = np.random.default_rng(seed)
    forest = None
    if train:
        progress.phase("fitting the random-forest baseline", total=1, unit="fit")
        forest = _fit_forest(train, seed)
        progress.update()
    per_group: dict[str, dict[str, dict[str, float]]] = {}
    source_of: dict[str, str] = {}
    predictions: list[dict[str, Any]] = []
    awareness: list[float] = []
    labels = mean_labels(test, label_seeds)
    label_groups = groups(labels, seed=None)
    progress.phase(
        "scoring groups", total=sum(len(exs) >= MIN_GROUP_STUDENTS for exs in label_groups.values()), unit="group"
    )
    for group, exs in sorted(label_groups.items()):
        if len(exs) < MIN_GROUP_STUDENTS:
            continue
        true = np.array([e["target"] for e in exs])
        features = exs[0]["task_features"]
        genomes = [Genome.from_json(e["genome"]) for e in exs]
        budget = [e["budget"] for e in exs]
        res: dict[str, dict[str, float]] = {}
        predictor.reset_adaptation()
        mean, std = predictor.predict(genomes, features, budget)
        res["ours (zero-shot)"] = {**rank_metrics(mean, true, accuracy=True), **_coverage(mean, std, true)}
        awareness += recipe_awareness({e["genome_hash"]: m for e, m in zip(exs, mean)}, exs)
        for e, m, s in zip(exs, mean, std):
            predictions.append(
                {
                    "group": group,
                    "genome_hash": e["genome_hash"],
                    "measured": e["target"],
                    "predicted": float(m),
                    "std": float(s),
                    "task": e["task_spec"],
                    "teacher": e["teacher"],
                    "arch": e["tags"].get("arch", e["genome_hash"]),
                    "control": bool(e["tags"].get("control")),
                }
            )
        if adapt_records and len(exs) > adapt_records + 4:
            adapted, same = [], []
            for _ in range(adapt_draws):  # a Spearman over a few remaining records is noisy: average draws
                pick = rng.permutation(len(exs))
                seen, rest = pick[:adapt_records], pick[adapt_records:]
                predictor.adapt([exs[i] for i in seen], **(adapt_options or {}))
                m_ad, s_ad = predictor.predict([genomes[i] for i in rest], features, [budget[i] for i in rest])
                adapted.append({**rank_metrics(m_ad, true[rest], accuracy=True), **_coverage(m_ad, s_ad, true[rest])})
                # zero-shot on the same remaining records, so that the two are compared like for like
                same.append(
                    {
                        **rank_metrics(mean[rest], true[rest], accuracy=True),
                        **_coverage(mean[rest], std[rest], true[rest]),
                    }
                )
                predictor.reset_adaptation()
            res[f"ours (adapted {adapt_records})"] = _mean_metrics(adapted)
            res["ours (zero-shot, same records)"] = _mean_metrics(same)
        if control_predictor is not None:
            m_c, _ = control_predictor.predict(genomes, features, budget)
            res["GNN, no-KD data"] = rank_metrics(m_c, true, accuracy=True)
        if forest is not None:
            res["random forest"] = rank_metrics(
                forest.predict(np.stack([flat_features(e, forest.flat_choices) for e in exs])), true, True
            )
        if baselines:
            res["params"] = rank_metrics(np.array([e["params"] or np.nan for e in exs], float), true)
            res["FLOPs"] = rank_metrics(np.array([e["flops"] or np.nan for e in exs], float), true)
            for name in PROXY_BASELINES:
                vals = np.array([_num(e["proxies"].get(name)) for e in exs], float)
                res[name] = rank_metrics(vals, true)
        per_group[group] = res
        source_of[group] = exs[0]["tags"].get("source", "?")
        progress.update()
    # a group's labels average the seeds its students have (digits may have 4 where MNIST has 2)
    seeds_of = {g: Counter(e["seeds"] for e in exs).most_common(1)[0][0] for g, exs in label_groups.items()}
    single = noise_ceiling(test)
    nc = labels_ceiling(_students_by(test, lambda e: e["group"]), seeds_of, min_students=4)
    nc.update(label_seeds=label_seeds, single_seed={"mean": _mean(single.values()), "groups": single})
    recipe_single = recipe_noise_ceiling(test)
    by_arch = _students_by(test, lambda e: (e["group"], e["tags"].get("arch", e["genome_hash"])))
    recipe = labels_ceiling(by_arch, {unit: seeds_of.get(unit[0], 1) for unit in by_arch}, min_students=3)
    return {
        "groups": per_group,
        "mean": _mean_over_groups(per_group),
        "mean_by_source": {
            src: _mean_over_groups({g: r for g, r in per_group.items() if source_of[g] == src})
            for src in sorted(set(source_of.values()))
        },
        "noise_ceiling": nc,
        "noise_ceiling_by_source": {
            src: labels_ceiling(
                _students_by([e for e in test if source_of.get(e["group"]) == src], lambda e: e["group"]),
                seeds_of,
                min_students=4,
            )["mean"]
            for src in sorted(set(source_of.values()))
        },
        "labels": {
            "students": len(labels),
            f"with {label_seeds} seeds": sum(e["seeds"] == label_seeds for e in labels),
        },
        "recipe_awareness": {
            "mean": float(np.mean(awareness)) if awareness else math.nan,
            "n_archs": len(awareness),
            "noise_ceiling": recipe["mean"],
            "noise_ceiling_archs": recipe["n"],
            "noise_ceiling_measured": recipe["measured"],
            "noise_ceiling_parts": recipe["parts"],
            "noise_ceiling_single_seed": _mean(recipe_single),
            "noise_ceiling_single_seed_archs": len(recipe_single),
        },
        "predictions": predictions,
    }


def _students_by(examples: list[dict[str, Any]], unit: Callable[[dict], Any]) -> dict[Any, dict[str, dict[int, float]]]:
    """``{unit: {genome_hash: {seed: final accuracy}}}``, units such as a group or a (group, architecture)."""
    out: dict[Any, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for ex in examples:
        out[unit(ex)][ex["genome_hash"]][ex["seed"]] = ex["target"]
    return out


def labels_ceiling(
    units: dict[Any, dict[str, dict[int, float]]], seeds_of: dict[Any, int], min_students: int
) -> dict[str, Any]:
    """The noise ceiling of labels that average ``seeds_of[unit]`` seeds, over units (groups, or the
    recipes of one architecture) whose labels may average different numbers of seeds.

    A unit with k-seed labels is measured directly (seeds 0..k-1 against k..2k-1) where its students have
    2k seeds, else with the most seeds j < k that two independent labels exist for. Units measured alike are
    averaged, and the mean raised from j to k seeds by Spearman-Brown; the overall mean weighs each such
    part by its units.
    """
    rhos: dict[tuple[int, int], list[float]] = defaultdict(list)  # (label seeds k, measured seeds j) -> rhos
    for unit, students in units.items():
        k = seeds_of.get(unit)
        for j in range(k or 0, 0, -1):
            if (rho := _label_agreement(students, j, min_students)) is not None:
                rhos[(k, j)].append(rho)
                break
    parts = []
    for (k, j), values in sorted(rhos.items(), reverse=True):
        measured = float(np.mean(values))
        parts.append(
            {
                "label_seeds": k,
                "measured_seeds": j,
                "units": len(values),
                "measured": measured,
                "ceiling": spearman_brown(measured, k / j),
            }
        )
    n = sum(p["units"] for p in parts)
    return {
        "mean": sum(p["ceiling"] * p["units"] for p in parts) / n if n else math.nan,
        "n": n,
        "measured": bool(parts) and all(p["measured_seeds"] == p["label_seeds"] for p in parts),
        "parts": parts,
    }


def _mean(values: Any) -> float:
    values = list(values)
    return float(np.mean(values)) if values else math.nan


def _coverage(mean: np.ndarray, std: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """The share of measured accuracies within the predicted +-1 sigma (``"within 1 sigma"``)."""
    return {COVERAGE: float(np.mean(np.abs(np.asarray(mean) - true) <= np.asarray(std)))}


def _mean_metrics(runs: list[dict[str, float]]) -> dict[str, float]:
    keys = [m for m in (*METRICS, COVERAGE) if all(m in r for r in runs)]
    return {
        m: float(np.nanmean([r[m] for r in runs])) if any(np.isfinite(r[m]) for r in runs) else math.nan for m in keys
    }


def _num(v: Any) -> float:
    return float(v) if v is not None else math.nan


def _fit_forest(train: list[dict[str, Any]], seed: int) -> Any:
    from sklearn.ensemble import RandomForestRegressor

    choices = flat_choices(train)
    x = np.stack([flat_features(e, choices) for e in train])
    y = np.array([e["target"] for e in train])
    forest = RandomForestRegressor(n_estimators=200, min_samples_leaf=2, random_state=seed, n_jobs=1).fit(x, y)
    forest.flat_choices = choices  # the encoding its test examples must use
    return forest


def _mean_over_groups(per_group: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    acc: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for res in per_group.values():
        for method, metrics in res.items():
            for k, v in metrics.items():
                if not math.isnan(v):
                    acc[method][k].append(v)
    return {m: {k: float(np.mean(v)) for k, v in ms.items()} for m, ms in acc.items()}


def format_table(report: dict[str, Any], methods: Sequence[str] | None = None) -> str:
    """A markdown table of the mean metrics, the noise ceiling and recipe awareness beneath it."""
    mean = report["mean"]
    methods = list(methods or mean)
    lines = ["| method | " + " | ".join(METRICS) + " |", "|---|" + "---:|" * len(METRICS)]
    for m in methods:
        if m in mean:
            cells = [f"{mean[m][k]:.3f}" if k in mean[m] else "" for k in METRICS]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    nc = report["noise_ceiling"]
    k = nc.get("label_seeds", 1)
    if k > 1:
        lines.append(
            f"\nlabels: mean of up to {k} seeds ({report['labels'][f'with {k} seeds']} of "
            f"{report['labels']['students']} students have {k})"
        )
    lines.append(
        f"{'' if k > 1 else chr(10)}noise ceiling of these labels: {nc['mean']:.3f} over {nc['n']} groups"
        f"{_describe_parts(nc.get('parts', []))}; one seed: {nc['single_seed']['mean']:.3f} over "
        f"{len(nc['single_seed']['groups'])} groups"
    )
    ra = report["recipe_awareness"]
    lines.append(
        f"recipe awareness (Spearman across recipes of one architecture): {ra['mean']:.3f} "
        f"over {ra['n_archs']} architectures"
    )
    if ra.get("noise_ceiling_archs"):
        lines.append(
            f"recipe noise ceiling (Spearman across recipes between independent labels): {ra['noise_ceiling']:.3f} "
            f"over {ra['noise_ceiling_archs']} architectures{_describe_parts(ra.get('noise_ceiling_parts', []))}"
        )
    covered = [f"{m} {mean[m][COVERAGE]:.2f}" for m in methods if m in mean and COVERAGE in mean[m]]
    if covered:
        lines.append("share of measured accuracies within the predicted ±1 sigma: " + ", ".join(covered))
    ceiling_of = report.get("noise_ceiling_by_source", {})
    for src, means in report.get("mean_by_source", {}).items():
        cells = [f"{m} {means[m]['spearman']:.3f}" for m in methods if m.startswith("ours") and m in means]
        if src in ceiling_of:
            cells.append(f"noise ceiling {ceiling_of[src]:.3f}")
        lines.append(f"{src} groups only, Spearman: " + ", ".join(cells))
    lines.append(f"groups scored: {len(report['groups'])}")
    return "\n".join(lines)


def _describe_parts(parts: list[dict[str, Any]]) -> str:
    """`` (12 with 4-seed labels: 0.835 measured with 2 seeds -> 0.910 by Spearman-Brown; ...)``"""
    if not parts:
        return ""
    cells = []
    for p in parts:
        k, j = p["label_seeds"], p["measured_seeds"]
        cell = f"{p['units']} with {k}-seed labels: {p['measured']:.3f} measured"
        if j != k:
            cell += f" with {j} seed{'s' if j > 1 else ''}"
            if p["ceiling"] != p["measured"]:  # a negative agreement is not raised
                cell += f" -> {p['ceiling']:.3f} by Spearman-Brown"
        cells.append(cell)
    return " (" + "; ".join(cells) + ")"


def plot_predictions(report: dict[str, Any], path: str) -> None:
    """Predicted vs. measured accuracy of every meta-test student, one colour per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    preds = report["predictions"]
    fig, ax = plt.subplots(figsize=(5.5, 5))
    names = sorted({p["group"] for p in preds})
    cmap = plt.get_cmap("tab20")
    for i, g in enumerate(names):
        pts = [p for p in preds if p["group"] == g]
        ax.scatter([p["measured"] for p in pts], [p["predicted"] for p in pts], s=10, color=cmap(i % 20), alpha=0.8)
    lo = min([p["measured"] for p in preds] + [p["predicted"] for p in preds] + [1.0])
    ax.plot([lo, 1], [lo, 1], "k--", lw=0.8)
    ax.set_xlabel("measured test accuracy")
    ax.set_ylabel("predicted (zero-shot)")
    sp = report["mean"].get("ours (zero-shot)", {}).get("spearman", float("nan"))
    ax.set_title(f"meta-test: {len(names)} task/teacher groups, mean Spearman {sp:.2f}")
    fig.tight_layout()
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
