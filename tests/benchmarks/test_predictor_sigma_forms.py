"""Forms of the zero-shot uncertainty, cross-fitted over held-out families."""

import numpy as np

import benchmarks.predictor_sigma_forms as forms
from predictor.estimator import fit_calibration


def test_a_floor_of_one_shape_everywhere_is_the_predictors_own_calibration():
    rng = np.random.default_rng(0)
    spread = rng.uniform(0.01, 0.05, 400)
    err = np.abs(rng.normal(0, 2 * spread + 0.01))
    assert fit_calibration(err, spread, shape=np.ones_like(err)) == fit_calibration(err, spread)
    scale, floor = fit_calibration(err, spread, floors=forms.FLOORS, shape=np.full_like(err, 0.5))
    assert floor in forms.FLOORS and np.mean(err <= np.sqrt((scale * spread) ** 2 + (0.5 * floor) ** 2)) >= 0.68


def _family(rng, n, level, err_scale):
    predicted = np.full(n, level)
    spread = np.full(n, 0.001)  # the ensemble sees nothing: the floor carries the uncertainty
    return {
        "err": np.abs(rng.normal(0, err_scale, n)),
        "spread": spread,
        "predicted": predicted,
        "teacher": np.full(n, 0.95),
    }


def test_a_form_that_follows_the_errors_covers_every_family_where_a_constant_one_does_not():
    # errors grow with p(1 - p): students predicted near 0.5 are missed by more than those near 0.95
    rng = np.random.default_rng(1)
    families = {
        f"f{k}": _family(rng, 2000, level, 0.1 * 2 * np.sqrt(level * (1 - level)))
        for k, level in enumerate([0.5, 0.6, 0.8, 0.95, 0.97])
    }
    out = forms.cross_fitted(families)
    assert out["binomial"]["families_inside_target"] == 5
    assert out["constant"]["families_inside_target"] < 5
    assert abs(out["constant"]["within_1sigma_all"] - 0.68) < 0.1
    constant = out["constant"]["families"]
    assert constant["f0"]["within_1sigma"] < constant["f4"]["within_1sigma"]  # the wide family under-covered
    shuffled = dict(sorted(out.items()))  # as the result file holds them (keys sorted)
    rendered = forms.render({"forms": shuffled, "target": [0.6, 0.75], "students": {f: 2000 for f in families}})
    inside = out["constant"]["families_inside_target"]
    narrow = out["constant, floors to 0.02"]["families_inside_target"]
    assert f"| **families inside 60%-75%** |  | {narrow} | {inside} | 5 | " in rendered  # a column per form
    assert "| f0 | 2000 | " in rendered and "| **every student** | 10000 | " in rendered


def test_the_constant_form_over_the_predictors_floors_is_the_leave_one_family_out_cross_fitted_calibration():
    from benchmarks.leave_one_family_out import cross_fitted_calibration

    rng = np.random.default_rng(2)
    families = {f"f{k}": _family(rng, 300, 0.5, scale) for k, scale in enumerate([0.01, 0.02, 0.04])}
    for d in families.values():
        d["spread"] = rng.uniform(0.005, 0.03, 300)
    ours = forms.cross_fitted(families)["constant, floors to 0.02"]["families"]
    folds = {
        f: {"held_out_errors": {"err": d["err"].tolist(), "spread": d["spread"].tolist()}} for f, d in families.items()
    }
    theirs = cross_fitted_calibration(folds)["folds"]
    for f in families:
        assert (ours[f]["scale"], ours[f]["floor"]) == (theirs[f]["scale"], theirs[f]["floor"])
        assert ours[f]["within_1sigma"] == theirs[f]["within_1sigma"]
