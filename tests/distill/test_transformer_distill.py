"""Distillation with transformers on either side, through the worker's job (distill.job.run_job) and the trainer:
ViT teacher -> CNN student, CNN teacher -> ViT student, ViT -> ViT with attention relations (MiniLMv2), and user
transformer teachers given as module:callable."""

import json
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch

from distill.cost import count_flops, count_params
from distill.families.staged_cnn import StagedCNNSpace
from distill.families.vit import ViTSpace
from distill.genome import SPACES, Genome, Recipe, StageGene, space_of
from distill.job import WorkerCache, run_job
from distill.losses import TRANSFORMER_RECIPE, HintLoss, qkv_maps
from distill.multi_train import Candidate, distil_many
from distill.records import Job
from distill.tasks import load_task
from distill.teachers import (
    TEACHER_FAMILIES,
    attention_layers,
    cache_dir,
    get_teacher,
    parse_zoo_name,
    teacher_config,
    teacher_id,
    teacher_outputs,
    zoo_names,
)
from distill.trainer import TrainConfig, distil, kd_loss_fn
from distill.vit import ViTStageGene, build_vit, count_vit_macs, count_vit_params

TASK = "digits:classes=0-2"
TEACHER_EPOCHS = 1
FAST = TrainConfig(epochs=1, batch_size=64, device="cpu")


@dataclass(frozen=True)
class _RelationViT(ViTSpace):
    recipe_space: ClassVar[dict] = TRANSFORMER_RECIPE


@dataclass(frozen=True)
class _RelationCNN(StagedCNNSpace):
    recipe_space: ClassVar[dict] = TRANSFORMER_RECIPE


@pytest.fixture(autouse=True)
def relation_spaces(monkeypatch):
    """Spaces that opt into the transformer recipes, for a ViT and for a CNN student (registered for the test only)."""
    for name, arch in (("test-vit-relations", _RelationViT()), ("test-cnn-relations", _RelationCNN())):
        monkeypatch.setitem(SPACES._entries, name, space_of(name, arch))


def _vit_student(recipe: Recipe) -> Genome:
    return Genome(0, (ViTStageGene(2, 1, 16, 2, 2), ViTStageGene(2, 1, 24, 3, 2)), recipe, "test-vit-relations")


def _cnn_student(recipe: Recipe) -> Genome:
    return Genome(8, (StageGene("basic", 1, 8), StageGene("conv", 1, 16)), recipe, "test-cnn-relations")


def _hint(position: str, transform: str, distance: str = "mse") -> Recipe:
    return Recipe("kl", 4.0, 0.5, 1.0, position, transform, distance, 1.0)


@pytest.fixture(scope="module")
def task():
    return load_task(TASK)


@pytest.fixture(scope="module")
def vit_teacher(task):
    teacher = get_teacher("vit-s", task, config=teacher_config(TEACHER_EPOCHS))
    return teacher, teacher_outputs(teacher, task)


@pytest.fixture(scope="module")
def cnn_teacher(task):
    teacher = get_teacher("cnn-s", task, config=teacher_config(TEACHER_EPOCHS))
    return teacher, teacher_outputs(teacher, task)


def _job(task, teacher: str, genome: Genome) -> Job:
    return Job(
        task_id=task.id,
        teacher_id=teacher_id(teacher, task, config=teacher_config(TEACHER_EPOCHS)),
        genome_hash=genome.hash,
        budget=1,
        seed=0,
        task_spec=TASK,
        teacher=teacher,
        genome=genome.to_json(indent=None),
        tags={"teacher_epochs": TEACHER_EPOCHS},
    )


# ---- the zoo's transformer teachers -----------------------------------------------------------------
def test_vit_teacher_outputs_hold_qkv_at_every_hint_position(vit_teacher, task):
    teacher, out = vit_teacher
    layers = attention_layers(teacher.model)
    assert layers == {"early": 0, "mid": 1, "late": 2}  # vit-s: three stages of one block
    n = len(task.x_train)
    assert out.qkv["early"].shape == (n, 3, 32, 4, 4) and out.qkv["late"].shape == (n, 3, 64, 2, 2)
    assert all(q.dtype == torch.float16 for q in out.qkv.values())
    # the cached q of the last layer is the network's own, on the token grid of its stage
    x = task.x_train[:5]
    with torch.no_grad():
        _, maps, qkv = teacher.model.forward_qkv(x, 2)
    assert torch.allclose(out.qkv["late"][:5].float(), qkv_maps(qkv, maps), atol=1e-2)
    again = teacher_outputs(teacher, task)  # from the cache
    assert all(torch.equal(again.qkv[k], out.qkv[k]) for k in out.qkv)


@pytest.mark.parametrize("name", zoo_names())
@pytest.mark.parametrize("in_shape", [(1, 8, 8), (3, 12, 12)])
def test_every_zoo_teacher_follows_the_model_contract(name, in_shape):
    family, size = parse_zoo_name(name)
    net = TEACHER_FAMILIES.get(family).net(size, in_shape, 4, seed=0)
    logits, maps = net.forward_features(torch.zeros(2, *in_shape))
    assert logits.shape == (2, 4) and len(maps) >= 3 and [m.shape[1] for m in maps] == list(net.stage_channels)


@pytest.mark.parametrize("size", ["s", "l"])
def test_vit_teachers_are_counted_without_being_built(size):
    stem, stages = TEACHER_FAMILIES.get("vit").sizes[size]
    for shape in [(1, 8, 8), (1, 16, 16), (3, 28, 28)]:
        net = TEACHER_FAMILIES.get("vit").net(size, shape, 10)
        assert count_vit_params(stem, stages, shape, 10) == count_params(net)
        assert count_vit_macs(stem, stages, shape, 10) == count_flops(net, shape)


def test_the_vit_family_trains_with_its_own_batch_size_in_the_cache_key(vit_teacher, task):
    teacher, _ = vit_teacher
    assert teacher.id == teacher_id("vit-s", task, config=teacher_config(TEACHER_EPOCHS))
    meta = json.loads((cache_dir() / "teachers" / f"vit-s-{teacher.id}.json").read_text())
    assert meta["key"]["config"]["batch_size"] == 32 and meta["key"]["family"] == "vit"


def test_a_cached_output_without_qkv_is_recomputed(vit_teacher, task, tmp_path):
    teacher, out = vit_teacher
    path = tmp_path / "outputs" / f"{teacher.id}-{task.id}.pt"
    path.parent.mkdir()
    old = {"logits_train": out.logits_train, "features": out.features, "val_acc": 0.5, "test_acc": 0.5}
    torch.save(old, path)  # what the code before transformer teachers wrote
    again = teacher_outputs(teacher, task, cache=str(tmp_path))
    assert set(again.qkv) == {"early", "mid", "late"} and again.test_acc == out.test_acc


def test_cnn_teachers_have_no_qkv(cnn_teacher):
    teacher, out = cnn_teacher
    assert attention_layers(teacher.model) == {} and out.qkv == {}


# ---- through the worker's job ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "recipe",
    [
        _hint("off", "connector"),
        _hint("late", "connector"),  # a hidden-state hint: token maps -> CNN maps through the 1x1 connector
        _hint("early", "attn_relation"),  # value relation over the tapped maps' positions
    ],
    ids=["kl", "connector", "relation"],
)
def test_vit_teacher_to_cnn_student_through_the_job(task, vit_teacher, recipe):
    result = run_job(_job(task, "vit-s", _cnn_student(recipe)), cache=WorkerCache())
    assert result.status == "ok", result.reason
    assert 0.0 <= result.test_acc <= 1.0 and result.params > 0


@pytest.mark.parametrize(
    "recipe",
    [
        Recipe("kl", 4.0, 0.5, 1.0),
        Recipe("dist", 2.0, 1.0, 2.0),
        Recipe("mse", 1.0, 0.0, 1.0),
        _hint("early", "connector"),  # CNN maps -> token maps through the connector
        _hint("late", "attention", "l1"),
        _hint("mid", "attn_relation"),
    ],
    ids=["kl", "dist", "mse", "connector", "attention", "relation"],
)
def test_cnn_teacher_to_vit_student_through_the_job(task, cnn_teacher, recipe):
    result = run_job(_job(task, "cnn-s", _vit_student(recipe)), cache=WorkerCache())
    assert result.status == "ok", result.reason
    assert 0.0 <= result.test_acc <= 1.0 and result.params > 0


def test_vit_teacher_to_vit_student_distils_attention_relations(task, vit_teacher):
    result = run_job(_job(task, "vit-s", _vit_student(_hint("late", "attn_relation"))), cache=WorkerCache())
    assert result.status == "ok", result.reason


def test_between_two_transformers_the_hint_reads_the_last_layers_qkv(task, vit_teacher):
    _, out = vit_teacher
    genome = _vit_student(_hint("late", "attn_relation"))
    student = genome.build(task.in_shape, task.num_classes, seed=0)
    loss_fn, (hint,) = kd_loss_fn(genome, out, student)
    x, idx = task.x_train[:8], torch.arange(8)
    logits, feats = loss_fn.student_forward(student, x)  # one forward: logits, maps and the q/k/v stack
    assert feats[-1].shape == (8, 3, 24, 2, 2) and len(feats) == 3
    _, maps, qkv = student.forward_qkv(x, -1)
    expected = HintLoss("attn_relation", "mse", 1, 1)(qkv_maps(qkv, maps), out.qkv["late"][:8].float())
    plain = Recipe("kl", 4.0, 0.5, 1.0)
    without_hint, _ = kd_loss_fn(genome.with_recipe(plain), out, student)
    total = loss_fn(logits, feats, idx, task.y_train[:8])
    assert total.item() == pytest.approx(without_hint(logits, feats, idx, task.y_train[:8]).item() + expected.item())
    # a CNN student of a transformer teacher reads the tapped maps (no student_forward)
    cnn = _cnn_student(_hint("late", "attn_relation"))
    loss_fn, _ = kd_loss_fn(cnn, out, cnn.build(task.in_shape, task.num_classes, seed=0))
    assert not hasattr(loss_fn, "student_forward")


def test_distillation_is_deterministic_with_relations(task, vit_teacher):
    _, out = vit_teacher
    genome = _vit_student(_hint("late", "attn_relation"))
    a, _ = distil(genome, task, out, FAST, seed=1)
    b, _ = distil(genome, task, out, FAST, seed=1)
    assert a.status == "ok" and a.curve == b.curve and a.test_acc == b.test_acc


def test_a_group_trains_relations_as_distil_does(task, vit_teacher):
    """A rung's group (distill.multi_train) sets a ViT student up as distil() does: q/k/v relations, bit for bit."""
    _, out = vit_teacher
    relation = _vit_student(_hint("late", "attn_relation"))
    mapped = _cnn_student(_hint("mid", "attn_relation"))
    candidates = [Candidate(relation, seed=1), Candidate(mapped, seed=2), Candidate(relation, seed=3)]
    together = distil_many(candidates, task, out, FAST)
    for c, (result, model) in zip(candidates, together):
        alone, alone_model = distil(c.genome, task, out, FAST, seed=c.seed)
        assert result.status == alone.status == "ok"
        assert (result.curve, result.test_acc) == (alone.curve, alone.test_acc)
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), alone_model.state_dict().values()))


# ---- a user's transformer teacher (module:callable) ----------------------------------------------------
USER_MODULE = """
from torch import nn

from distill.vit import ViTStageGene, build_vit, count_vit_macs, count_vit_params


class Wrapped(nn.Module):
    '''A ViT-like network without forward_qkv: its stage maps are hint sources, its attention is not.'''

    def __init__(self):
        super().__init__()
        self.net = build_vit(0, (ViTStageGene(2, 1, 16, 2, 2), ViTStageGene(2, 1, 32, 4, 2)), (1, 8, 8), 3, seed=0)

    def forward_features(self, x):
        return self.net.forward_features(x)

    def forward(self, x):
        return self.net(x)


def vit():
    return build_vit(0, (ViTStageGene(2, 1, 16, 2, 2), ViTStageGene(2, 1, 32, 4, 2)), (1, 8, 8), 3, seed=0)


def wrapped():
    return Wrapped()
"""


@pytest.fixture
def user_teacher(tmp_path, monkeypatch, task):
    (tmp_path / "my_vit_teacher.py").write_text(USER_MODULE)
    monkeypatch.chdir(tmp_path)
    weights = tmp_path / "vit.pt"
    torch.save(
        build_vit(0, (ViTStageGene(2, 1, 16, 2, 2), ViTStageGene(2, 1, 32, 4, 2)), (1, 8, 8), 3, 1).state_dict(),
        weights,
    )
    return str(weights)


def test_a_user_transformer_teacher_gives_attention_relations(task, user_teacher):
    teacher = get_teacher("my_vit_teacher:vit", task, weights=user_teacher)
    out = teacher_outputs(teacher, task)
    assert teacher.family == "user" and set(out.qkv) == {"early", "mid", "late"}
    assert out.qkv["late"].shape[1:] == (3, 32, 2, 2)
    genome = _vit_student(_hint("late", "attn_relation"))
    loss_fn, _ = kd_loss_fn(genome, out, genome.build(task.in_shape, task.num_classes, seed=0))
    assert hasattr(loss_fn, "student_forward")
    result, _ = distil(genome, task, out, FAST, seed=0)
    assert result.status == "ok", result.reason


def test_a_user_transformer_without_forward_qkv_gives_map_relations(task, user_teacher):
    teacher = get_teacher("my_vit_teacher:wrapped", task, weights=_wrapped_weights(user_teacher))
    out = teacher_outputs(teacher, task)
    assert out.qkv == {} and out.features["late"].shape[1:] == (32, 2, 2)
    genome = _vit_student(_hint("late", "attn_relation"))
    loss_fn, _ = kd_loss_fn(genome, out, genome.build(task.in_shape, task.num_classes, seed=0))
    assert not hasattr(loss_fn, "student_forward")  # the value relation of the tapped maps
    result, _ = distil(genome, task, out, FAST, seed=0)
    assert result.status == "ok", result.reason


def _wrapped_weights(vit_weights: str) -> str:
    state = torch.load(vit_weights, weights_only=True)
    path = vit_weights.replace("vit.pt", "wrapped.pt")
    torch.save({f"net.{k}": v for k, v in state.items()}, path)
    return path
