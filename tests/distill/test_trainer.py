import math

import numpy as np
import pytest
import torch

from distill.genome import Genome, Recipe, StageGene, get_space
from distill.nets import build_student
from distill.teachers import get_teacher, teacher_outputs
from distill.trainer import TeacherOutputs, TrainConfig, distil, fit, kd_loss_fn

FAST = TrainConfig(epochs=2, batch_size=64)


def _genome(recipe: Recipe) -> Genome:
    return Genome(8, (StageGene("basic", 1, 8), StageGene("mbconv", 1, 16, 3, 4, True)), recipe)


@pytest.fixture(scope="module")
def teacher(digits_task):
    t = get_teacher("resnet-s", digits_task, config=TrainConfig(epochs=3))
    return teacher_outputs(t, digits_task)


def test_teacher_outputs_cover_the_training_set(teacher, digits_task):
    n = len(digits_task.x_train)
    assert teacher.logits_train.shape == (n, digits_task.num_classes)
    assert set(teacher.features) == {"early", "mid", "late"}
    assert all(f.shape[0] == n and f.dtype == torch.float16 for f in teacher.features.values())
    assert teacher.test_acc > 0.8


def test_teacher_is_cached_by_content_hash(digits_task):
    a = get_teacher("resnet-s", digits_task, config=TrainConfig(epochs=3))
    b = get_teacher("resnet-s", digits_task, config=TrainConfig(epochs=3), train=False)  # from the cache
    assert a.id == b.id
    assert all(torch.equal(p, q) for p, q in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    assert get_teacher("resnet-s", digits_task, config=TrainConfig(epochs=4), train=True).id != a.id


@pytest.mark.parametrize(
    "recipe",
    [
        Recipe.plain(),
        Recipe("kl", 4.0, 0.5, 1.0),
        Recipe("dist", 2.0, 1.0, 2.0),
        Recipe("mse", 1.0, 0.0, 1.0),
        *[
            Recipe("none", 1.0, 1.0, 1.0, "mid", t, d, 1.0)
            for t, d in [("connector", "mse"), ("attention", "l1"), ("relation", "cosine"), ("channel", "pearson")]
        ],
    ],
)
def test_every_recipe_trains(recipe, teacher, digits_task):
    result, student = distil(_genome(recipe), digits_task, teacher, FAST, seed=0)
    assert result.status == "ok", result.reason
    assert len(result.curve) == 2 and result.epochs_run == 2
    assert result.test_acc > 0.4  # 5 classes: well above chance after two epochs
    assert not any(n.startswith("hint") for n, _ in student.named_parameters())


def test_deterministic_under_a_seed_on_cpu(teacher, digits_task):
    g = _genome(Recipe("kl", 4.0, 0.5, 1.0, "late", "connector", "mse", 1.0))
    cpu = TrainConfig(epochs=2, batch_size=64, device="cpu")  # CUDA kernels are not bitwise deterministic
    a, sa = distil(g, digits_task, teacher, cpu, seed=3)
    b, sb = distil(g, digits_task, teacher, cpu, seed=3)
    c, _ = distil(g, digits_task, teacher, cpu, seed=4)
    assert a.curve == b.curve and a.test_acc == b.test_acc
    assert all(torch.equal(p, q) for p, q in zip(sa.state_dict().values(), sb.state_dict().values()))
    assert a.curve != c.curve or a.test_acc != c.test_acc


def test_non_finite_loss_ends_as_diverged(teacher, digits_task):
    bad = TeacherOutputs(torch.full_like(teacher.logits_train, math.nan), teacher.features, 0.0, 0.0)
    result, _ = distil(_genome(Recipe("kl", 4.0, 0.5, 1.0)), digits_task, bad, FAST)
    assert result.status == "diverged"
    assert "non-finite loss" in result.reason
    assert result.test_acc is None


def test_errors_are_results(teacher, digits_task, monkeypatch):
    def explode(*_a, **_k):
        raise RuntimeError("boom")

    monkeypatch.setattr(torch.optim.AdamW, "step", explode)
    result, _ = distil(_genome(Recipe.plain()), digits_task, None, FAST)
    assert result.status == "error" and "boom" in result.reason


def test_distilling_recipe_without_teacher_is_a_value_error(digits_task):
    with pytest.raises(ValueError, match="no teacher"):
        distil(_genome(Recipe("kl", 4.0, 0.5, 1.0)), digits_task, None, FAST)


def test_sampled_genomes_train(teacher, digits_task):
    rng = np.random.default_rng(0)
    for _ in range(4):
        g = get_space("default").sample(rng)
        result, _ = distil(g, digits_task, teacher, TrainConfig(epochs=1), seed=1)
        assert result.status == "ok", (g.to_json(None), result.reason)


def test_bf16_is_refused_off_cuda_and_unknown_precisions_name_the_choices(digits_task):
    cpu = TrainConfig(epochs=1, device="cpu")
    with pytest.raises(ValueError, match="precision 'bf16' needs a CUDA device"):
        distil(_genome(Recipe.plain()), digits_task, None, cpu, precision="bf16")
    with pytest.raises(ValueError, match=r"one of fp32, bf16; got 'fp16'"):
        distil(_genome(Recipe.plain()), digits_task, None, cpu, precision="fp16")


def test_the_divergence_flag_read_once_an_epoch_ends_the_run_in_that_epoch(teacher, digits_task):
    bad = TeacherOutputs(torch.full_like(teacher.logits_train, math.nan), teacher.features, 0.0, 0.0)
    student = _genome(Recipe("kl", 4.0, 0.5, 1.0))
    net = build_student(student, digits_task.in_shape, digits_task.num_classes, seed=0)
    loss_fn, extra = kd_loss_fn(student, bad, net.stage_channels)
    result = fit(net, digits_task, loss_fn, FAST, 0, extra, check_every_step=False)
    assert (result.status, result.epochs_run, result.curve) == ("diverged", 0, [])
    assert result.reason == "non-finite loss (nan) in epoch 1"
