"""Several candidates trained in one loop give, bit for bit, what each gives trained alone.

A rung's candidates share a device (and, on CUDA, its streams); a candidate's result must not depend on which
others shared it: the multi-candidate path is checked against :func:`distill.trainer.distil` and
:func:`distill.trainer.fit` run one at a time (results, curves and trained weights), with ok and diverging runs.
"""

import importlib.util
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from distill.genome import Genome, Recipe, StageGene, get_space
from distill.job import torch_threads
from distill.multi_train import Candidate, distil_many, distil_together, on_device, train_many
from distill.tasks import load_task
from distill.teachers import get_teacher, teacher_outputs
from distill.trainer import TeacherOutputs, TrainingRun, distil, fit

# the pins' helpers (tests are no package: load it by path)
_spec = importlib.util.spec_from_file_location("trainer_pins", Path(__file__).with_name("trainer_pins.py"))
pins = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pins)
CONFIG = pins.CONFIG


def _summary(result, model) -> dict:
    return pins._run(result, model)  # the result without its wall time, and the sha256 of the weights


@pytest.fixture(scope="module")
def setting():
    with torch_threads(1), tempfile.TemporaryDirectory() as cache:
        task = load_task(pins.TASK)
        teacher = get_teacher("resnet-s", task, config=pins.TEACHER, cache=cache)
        yield task, teacher_outputs(teacher, task, cache=cache)


def _candidates() -> list[Candidate]:
    """Mixed students: plain, logit KD, a feature hint without logit KD, a sampled genome; two share a genome."""
    kl = pins._genome(Recipe("kl", 4.0, 0.5, 1.0))
    hint_only = pins._genome(Recipe("none", 1.0, 1.0, 1.0, "mid", "attention", "mse", 1.0))
    sampled = get_space("default").sample(np.random.default_rng(3))
    return [
        Candidate(pins._genome(Recipe.plain()), seed=0),
        Candidate(kl, seed=1),
        Candidate(hint_only, seed=2),
        Candidate(sampled, seed=3),
        Candidate(kl, seed=4),
    ]


def _alone(candidates, task, teacher) -> list[dict]:
    return [_summary(*distil(c.genome, task, teacher, CONFIG, seed=c.seed)) for c in candidates]


def test_distil_many_equals_distil_one_at_a_time(setting):
    task, teacher = setting
    candidates = _candidates()
    with torch_threads(1):
        together = [_summary(*pair) for pair in distil_many(candidates, task, teacher, CONFIG)]
        alone = _alone(candidates, task, teacher)
        # a different company in the loop (a subset, another order) changes nothing either
        pair = [_summary(*p) for p in distil_many([candidates[3], candidates[1]], task, teacher, CONFIG)]
    assert {r["status"] for r in alone} == {"ok"}
    assert together == alone
    assert pair == [alone[3], alone[1]]


def test_a_diverging_candidate_ends_alone_and_the_others_are_unchanged(setting):
    """A teacher with non-finite logits: the logit-KD students diverge in epoch 1, the others train on."""
    task, teacher = setting
    nan_teacher = TeacherOutputs(torch.full_like(teacher.logits_train, math.nan), teacher.features, 0.0, 0.0)
    candidates = _candidates()[:4]
    with torch_threads(1):
        together = [_summary(*pair) for pair in distil_many(candidates, task, nan_teacher, CONFIG)]
        alone = _alone(candidates, task, nan_teacher)
    assert candidates[3].genome.recipe.logit_loss == "kl"  # the sampled student distils its logits too
    assert [r["status"] for r in alone] == ["ok", "diverged", "ok", "diverged"]
    assert alone[1]["reason"] == "non-finite loss (nan) in epoch 1"
    assert together == alone


@pytest.mark.parametrize("check_every_step", [True, False])
def test_train_many_equals_fit_with_a_run_diverging_mid_way(setting, check_every_step):
    """A loss that turns NaN in the third epoch (the curve of the first two kept), beside two ok runs, with the
    divergence flag read every step (the CPU's way) and once per epoch (the GPU's way)."""
    task, teacher = setting
    g_kl = pins._genome(Recipe("kl", 4.0, 0.5, 1.0))
    g_hint = pins._genome(Recipe("kl", 4.0, 0.5, 1.0, "late", "connector", "mse", 1.0))
    steps_per_epoch = math.ceil(len(task.x_train) / CONFIG.batch_size)

    def setups():
        out = []
        for g, seed, bad_call in ((g_kl, 0, None), (g_kl, 0, 2 * steps_per_epoch + 3), (g_hint, 1, None)):
            student, loss_fn, extra = pins._setup(g, task, teacher, seed)
            if bad_call is not None:
                loss_fn = pins._nan_from_call(bad_call, loss_fn)
            out.append((student, loss_fn, extra, seed))
        return out

    with torch_threads(1):
        alone = []
        for student, loss_fn, extra, seed in setups():
            result = fit(student, task, loss_fn, CONFIG, seed, extra, check_every_step=check_every_step)
            alone.append(_summary(result, student))
        runs, students = [], []
        for student, loss_fn, extra, seed in setups():
            runs.append(TrainingRun(student, task, loss_fn, CONFIG, seed, extra, check_every_step=check_every_step))
            students.append(student)
        together = [_summary(r, s) for r, s in zip(train_many(runs), students)]
    assert [r["status"] for r in alone] == ["ok", "diverged", "ok"]
    assert alone[1]["epochs_run"] == 2 and len(alone[1]["curve"]) == 2
    assert together == alone


def test_on_device_shares_the_cpu_tensors_and_converts_only_the_hint_features(setting):
    task, teacher = setting
    shared_task, shared = on_device(task, teacher, torch.device("cpu"), {"mid"})
    assert shared_task.x_train is task.x_train and shared_task.y_test is task.y_test
    assert shared.logits_train.dtype == torch.float32
    assert shared.features["mid"].dtype == torch.float32
    assert torch.equal(shared.features["mid"], teacher.features["mid"].float())
    assert all(shared.features[k] is teacher.features[k] for k in teacher.features if k != "mid")


def test_distil_many_refuses_bf16_on_the_cpu_before_training(setting):
    task, teacher = setting
    with pytest.raises(ValueError, match="bf16"):
        distil_many(_candidates()[:1], task, teacher, CONFIG, precision="bf16")


def _raise_from_call(n: int, loss_fn):
    """``loss_fn`` whose ``n``-th call (from 1) raises an exception the trainer does not turn into a result."""
    calls = [0]

    def bad(logits, feats, idx, y):
        calls[0] += 1
        if calls[0] >= n:
            raise TypeError("a bug in this candidate's loss")
        return loss_fn(logits, feats, idx, y)

    return bad


def test_a_run_that_raises_ends_alone_with_its_exception_and_the_others_are_unchanged(setting):
    """A step that raises (a bug, not a failed training: fit lets it through) is that run's outcome only."""
    task, teacher = setting
    g_kl = pins._genome(Recipe("kl", 4.0, 0.5, 1.0))

    def setups():
        out = []
        for seed, raise_at in ((0, None), (1, 7), (2, None)):
            student, loss_fn, extra = pins._setup(g_kl, task, teacher, seed)
            out.append((student, _raise_from_call(raise_at, loss_fn) if raise_at else loss_fn, extra, seed))
        return out

    with torch_threads(1):
        alone = [_summary(fit(s, task, f, CONFIG, seed, e), s) for s, f, e, seed in setups() if f.__name__ != "bad"]
        runs, students = [], []
        for student, loss_fn, extra, seed in setups():
            runs.append(TrainingRun(student, task, loss_fn, CONFIG, seed, extra))
            students.append(student)
        outcomes = train_many(runs)
    assert isinstance(outcomes[1], TypeError) and "a bug" in str(outcomes[1])
    assert [_summary(outcomes[i], students[i]) for i in (0, 2)] == alone


def test_distil_together_gives_a_candidate_that_cannot_start_its_exception_and_trains_the_others(setting):
    """An invalid genome in a group: distil raises for it alone; distil_together gives that exception in its
    place and trains the others as distil would; distil_many raises it, as distil would."""
    task, teacher = setting
    invalid = Genome(8, (StageGene("basic", 1, 8),), Recipe.plain())  # one stage: too few
    candidates = [_candidates()[1], Candidate(invalid, seed=0), _candidates()[3]]
    with torch_threads(1):
        with pytest.raises(ValueError) as alone_error:
            distil(invalid, task, teacher, CONFIG, seed=0)
        outcomes = distil_together(candidates, task, teacher, CONFIG)
        alone = _alone([candidates[0], candidates[2]], task, teacher)
    assert isinstance(outcomes[1], ValueError) and str(outcomes[1]) == str(alone_error.value)
    assert [_summary(*outcomes[i]) for i in (0, 2)] == alone
    with pytest.raises(ValueError, match="number of stages"):
        distil_many(candidates, task, teacher, CONFIG)
