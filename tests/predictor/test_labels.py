import math

import numpy as np
import pytest

from predictor.data import mean_labels
from predictor.evaluate import (
    _students_by,
    kd_gain,
    kd_gain_prediction,
    labels_ceiling,
    noise_ceiling,
    recipe_noise_ceiling,
    spearman_brown,
    unreliable_groups,
)


def record(group, genome, seed, target, curve=None, budget=6):
    return {
        "group": group,
        "genome_hash": genome,
        "seed": seed,
        "target": target,
        "curve": curve if curve is not None else [target / 2, target],
        "budget": budget,
        "tags": {},
    }


def test_mean_labels_average_the_label_seeds_only():
    records = [
        record("t/a", "g1", 0, 0.80, [0.4, 0.8]),
        record("t/a", "g1", 1, 0.90, [0.6, 0.9]),
        record("t/a", "g1", 2, 0.10),  # a replicate seed: the noise ceiling's, not the label's
        record("t/a", "g2", 0, 0.70),  # its second seed is not collected yet
        record("t/b", "g1", 1, 0.50),  # same genome, another group: another student
        record("t/a", "g1", 0, 0.60, budget=3),  # another budget: another label
    ]
    labels = {(e["group"], e["genome_hash"], e["budget"]): e for e in mean_labels(records, label_seeds=2)}
    assert len(labels) == 4
    g1 = labels[("t/a", "g1", 6)]
    assert g1["target"] == pytest.approx(0.85) and g1["curve"] == pytest.approx([0.5, 0.85]) and g1["seeds"] == 2
    assert labels[("t/a", "g2", 6)]["target"] == 0.70 and labels[("t/a", "g2", 6)]["seeds"] == 1
    assert labels[("t/b", "g1", 6)]["target"] == 0.50
    assert labels[("t/a", "g1", 3)]["target"] == 0.60
    # one label seed: every record with seed 0 as it is
    assert [e["target"] for e in mean_labels(records, 1)] == [0.80, 0.70, 0.60]
    with pytest.raises(ValueError, match="label_seeds must be at least 1; got 0"):
        mean_labels(records, 0)


def test_noise_ceiling_compares_independent_labels():
    rng = np.random.default_rng(0)
    truth = np.linspace(0.5, 0.9, 12)
    noise = 0.05
    records = [
        record("t/a", f"g{i}", s, float(t + rng.normal(0, noise))) for i, t in enumerate(truth) for s in range(4)
    ]
    one, two = noise_ceiling(records, 1)["t/a"], noise_ceiling(records, 2)["t/a"]
    assert -1 <= one <= 1 and -1 <= two <= 1
    # averaging two seeds halves the noise variance: over many draws the 2-seed labels rank better
    ones, twos = [], []
    for k in range(40):
        rng = np.random.default_rng(k)
        rs = [record("t", f"g{i}", s, float(t + rng.normal(0, noise))) for i, t in enumerate(truth) for s in range(4)]
        ones.append(noise_ceiling(rs, 1)["t"])
        twos.append(noise_ceiling(rs, 2)["t"])
    assert np.mean(twos) > np.mean(ones) + 0.03
    # students without all four seeds do not count, and a group needs four students
    assert noise_ceiling(records[:12], 2) == {}
    assert noise_ceiling([r for r in records if r["seed"] < 2], 2) == {}


def test_unreliable_groups_are_those_whose_seeds_disagree():
    agree = [record("t/agree", f"g{i}", s, 0.5 + 0.04 * i) for i in range(6) for s in range(2)]
    swapped = [record("t/swap", f"g{i}", s, 0.5 + 0.04 * (i if s == 0 else 5 - i)) for i in range(6) for s in range(2)]
    few = [record("t/few", f"g{i}", s, 0.5 + 0.04 * (i if s == 0 else 2 - i)) for i in range(3) for s in range(2)]
    one_seed = [record("t/one", f"g{i}", 0, 0.5 + 0.04 * i) for i in range(6)]
    records = agree + swapped + few + one_seed
    assert unreliable_groups(records, 0.5) == {"t/swap": pytest.approx(-1.0)}
    # a group whose agreement cannot be measured (3 students with both seeds; one seed only) is never left out
    assert unreliable_groups(records, 1.0) == {"t/swap": pytest.approx(-1.0)}
    assert unreliable_groups(records, -1.0) == {}
    assert (
        unreliable_groups(records, np.float32(0.5))
        == unreliable_groups(records, np.int64(1))
        == {"t/swap": pytest.approx(-1.0)}
    )
    for bad in (1.5, math.nan, "0.5", True):
        with pytest.raises(ValueError, match="min_reliability must be a number from -1 to 1"):
            unreliable_groups(records, bad)


def test_spearman_brown():
    assert spearman_brown(0.8, 1) == pytest.approx(0.8)
    assert spearman_brown(0.8, 2) == pytest.approx(1.6 / 1.8)
    assert math.isnan(spearman_brown(math.nan, 2))
    assert spearman_brown(0.5, 1.5) == pytest.approx(0.75 / 1.25)  # k / j seeds need not be whole
    assert spearman_brown(-0.7, 4) == -0.7  # a negative agreement is not raised (the formula would give > 1)


def test_recipe_noise_ceiling_pairs_each_student_once():
    # three recipes of one architecture, four seeds: seeds 0 and 1 agree perfectly, seeds 2 and 3 reverse them
    records = []
    for i, base in enumerate([0.70, 0.80, 0.90]):
        for seed, acc in enumerate([base, base, 1.6 - base, 1.6 - base]):
            records.append({**record("t/a", f"g{i}", seed, acc), "tags": {"arch": "a1"}})
    assert recipe_noise_ceiling(records, 1) == [pytest.approx(1.0)]
    assert recipe_noise_ceiling(records, 2) == [pytest.approx(-1.0)]


def test_labels_ceiling_scores_each_group_with_its_own_seeds():
    # group "d": 4 seeds, labels of 2 seeds measured directly (0-1 against 2-3) and raised to 4 by Spearman-Brown;
    # group "m": 2 seeds, labels of 2 seeds, from the one-seed agreement raised to 2
    rng = np.random.default_rng(0)
    truth = np.linspace(0.5, 0.9, 10)
    records = [record("d", f"g{i}", s, float(t + rng.normal(0, 0.05))) for i, t in enumerate(truth) for s in range(4)]
    records += [record("m", f"g{i}", s, float(t + rng.normal(0, 0.05))) for i, t in enumerate(truth) for s in range(2)]
    units = _students_by(records, lambda e: e["group"])
    d_two, m_one = noise_ceiling(records, 2)["d"], noise_ceiling(records, 1)["m"]

    out = labels_ceiling(units, {"d": 4, "m": 2}, min_students=4)
    assert out["n"] == 2 and not out["measured"]
    by_k = {p["label_seeds"]: p for p in out["parts"]}
    assert by_k[4]["measured_seeds"] == 2 and by_k[4]["measured"] == pytest.approx(d_two)
    assert by_k[4]["ceiling"] == pytest.approx(spearman_brown(d_two, 2))
    assert by_k[2]["measured_seeds"] == 1 and by_k[2]["ceiling"] == pytest.approx(spearman_brown(m_one, 2))
    assert out["mean"] == pytest.approx((spearman_brown(d_two, 2) + spearman_brown(m_one, 2)) / 2)

    # two-seed labels for both: "d" is measured outright, "m" still by Spearman-Brown
    out = labels_ceiling(units, {"d": 2, "m": 2}, min_students=4)
    assert [(p["label_seeds"], p["measured_seeds"], p["units"]) for p in out["parts"]] == [(2, 2, 1), (2, 1, 1)]
    assert out["mean"] == pytest.approx((d_two + spearman_brown(m_one, 2)) / 2)
    # one-seed labels: seed 0 against seed 1, measured for every group
    out = labels_ceiling(units, {"d": 1, "m": 1}, min_students=4)
    assert out["measured"] and out["n"] == 2
    assert out["mean"] == pytest.approx((noise_ceiling(records, 1)["d"] + m_one) / 2)
    assert math.isnan(labels_ceiling({}, {}, min_students=4)["mean"])


def test_kd_gain_and_its_prediction_per_architecture():
    # two architectures of one group, each with two distilled students and a control (key (arch, control));
    # KD helps "a" (+0.04) and hurts "b" (-0.09); the predictor says it helps both (+0.04, +0.03)
    measured = {("a", False): [0.80, 0.84], ("a", True): [0.78], ("b", False): [0.60, 0.62], ("b", True): [0.70]}
    predicted = {("a", False): [0.85, 0.83], ("a", True): [0.80], ("b", False): [0.75, 0.71], ("b", True): [0.70]}
    labels, predictions = [], []
    for (arch, control), values in measured.items():
        for i, (m, p) in enumerate(zip(values, predicted[(arch, control)])):
            tags = {"arch": arch, **({"control": True} if control else {})}
            labels.append({"group": "g", "genome_hash": f"{arch}{control}{i}", "target": m, "tags": tags})
            predictions.append({"group": "g", "arch": arch, "control": control, "measured": m, "predicted": p})
    gain = kd_gain(labels)
    assert gain["n"] == 2 and gain["kd_hurts"] == 0.5
    assert math.isclose(gain["mean"], ((0.82 - 0.78) + (0.61 - 0.70)) / 2)
    pred = kd_gain_prediction(predictions)
    assert pred["n"] == 2 and pred["measured_hurts"] == 0.5
    assert math.isclose(pred["predicted_gain"], ((0.84 - 0.80) + (0.73 - 0.70)) / 2)
    assert pred["predicted_hurts"] == 0.0 and pred["hurts_recall"] == 0.0 and math.isnan(pred["hurts_precision"])
    assert pred["sign_agreement"] == 0.5
    assert kd_gain_prediction([{k: v for k, v in p.items() if k != "arch"} for p in predictions]) == {"n": 0}
