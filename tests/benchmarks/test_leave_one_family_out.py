"""The leave-one-family-out benchmark's calibration across families."""

import numpy as np
import pytest

from benchmarks.leave_one_family_out import cross_fitted_calibration
from predictor.estimator import fit_calibration


def _fold(rng, n, noise):
    spread = rng.uniform(0.01, 0.05, n)
    return {"held_out_errors": {"err": list(np.abs(rng.normal(0, noise * spread))), "spread": list(spread)}}


def test_each_family_is_calibrated_on_the_others_only():
    rng = np.random.default_rng(0)
    # the ensemble's spread is 3x too narrow on every held-out family: cross-fitting finds the scale without
    # looking at the family it is scored on, and then covers about 68 % of it
    folds = {f: _fold(rng, 400, 3.0) for f in ("a", "b", "c")}
    out = cross_fitted_calibration(folds)
    for family in folds:
        fold = out["folds"][family]
        assert fold["scale"] == pytest.approx(3.0, rel=0.2) and 0.6 < fold["within_1sigma"] < 0.76
    assert out["all_folds"]["scale"] == pytest.approx(3.0, rel=0.15)
    # a family that is much harder than the others is under-covered: the calibration did not see it
    folds["d"] = _fold(rng, 400, 9.0)
    d = cross_fitted_calibration(folds)["folds"]["d"]
    others = [folds[f]["held_out_errors"] for f in "abc"]
    pooled = [np.concatenate([e[k] for e in others]) for k in ("err", "spread")]
    expected = fit_calibration(*pooled)
    assert (d["scale"], d["floor"]) == expected and d["within_1sigma"] < 0.45  # fitted on a, b and c alone
    # one fold, or folds without errors (scored before they were kept), give nothing to cross-fit
    assert cross_fitted_calibration({"a": folds["a"], "x": {}}) == {"folds": {}}
