"""The training job: one "distil, measure, save" path (train_student) and the job a worker runs (run_job)."""

import json
from dataclasses import replace

import pytest
import torch

from distill.cost import count_flops, count_params
from distill.genome import Genome, Recipe, StageGene
from distill.job import (
    PROBE_SIZE,
    THREADS_PER_WORKER,
    WorkerCache,
    run_job,
    torch_threads,
    train_job,
    train_student,
)
from distill.records import Job, Result, job_precision, result_precision, with_precision
from distill.tasks import load_task
from distill.teachers import get_teacher, teacher_config, teacher_id, teacher_outputs
from distill.trainer import TrainConfig, distil

TASK = "digits:classes=0-2"
TEACHER_EPOCHS = 1
KD = Recipe(ce_weight=0.5, logit_loss="kl", temperature=4.0, kd_weight=1.0)
HINT = Recipe(ce_weight=0.5, hint_position="late", hint_transform="attention", hint_distance="mse", hint_weight=1.0)


def _genome(recipe: Recipe = KD) -> Genome:
    return Genome(8, (StageGene("basic", 1, 8), StageGene("mbconv", 1, 16, 3, 4, True)), recipe)


@pytest.fixture(scope="module")
def task():
    return load_task(TASK)


@pytest.fixture(scope="module")
def teacher(task):
    return get_teacher("cnn-s", task, config=teacher_config(TEACHER_EPOCHS))


def _job(task, genome: Genome, seed: int = 0, teacher_epochs: int = TEACHER_EPOCHS) -> Job:
    return Job(
        task_id=task.id,
        teacher_id=teacher_id("cnn-s", task, config=teacher_config(teacher_epochs)),
        genome_hash=genome.hash,
        budget=1,
        seed=seed,
        task_spec=TASK,
        teacher="cnn-s",
        genome=genome.to_json(indent=None),
        tags={"teacher_epochs": teacher_epochs},
    )


def test_train_student_is_distil_plus_its_counts(task, teacher):
    outputs = teacher_outputs(teacher, task)
    config = TrainConfig(epochs=1, device="cpu")
    trained = train_student(_genome(), task, outputs, config, seed=3)
    result, student = distil(_genome(), task, outputs, config, seed=3)
    # bit for bit: the same status, accuracies and curve (only the wall time differs)
    assert replace(trained.result, train_time_s=0.0) == replace(result, train_time_s=0.0)
    state, expected = trained.student.state_dict(), student.state_dict()
    assert state.keys() == expected.keys() and all(torch.equal(state[k], expected[k]) for k in state)
    assert trained.params == count_params(student) and trained.flops == count_flops(student, task.in_shape)
    assert (trained.seed, trained.task_id, trained.teacher_test_acc) == (3, task.id, outputs.test_acc)


def test_metrics_and_save(task, tmp_path):
    trained = train_student(_genome(Recipe.plain()), task, None, TrainConfig(epochs=1, device="cpu"), seed=0)
    metrics = trained.metrics("cnn-s", None, note="more")
    assert metrics["status"] == "ok" and metrics["val_acc"] == trained.result.val_acc
    assert metrics["params"] == trained.params and metrics["task"] == task.name and metrics["task_id"] == task.id
    assert metrics["teacher"] == "cnn-s" and metrics["teacher_id"] is None and metrics["teacher_test_acc"] is None
    assert metrics["config"]["epochs"] == 1 and metrics["seed"] == 0 and metrics["note"] == "more"
    assert metrics["precision"] == "fp32"
    trained.save(tmp_path / "run", metrics)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    assert Genome.from_json((tmp_path / "run" / "genome.json").read_text()) == trained.genome
    assert json.loads((tmp_path / "run" / "recipe.json").read_text())["logit_loss"] == "none"
    state = torch.load(tmp_path / "run" / "student.pt", weights_only=True)
    assert all(torch.equal(state[k], v) for k, v in trained.student.state_dict().items())


def test_a_hint_the_teacher_cannot_give_is_a_users_error(task, teacher):
    outputs = teacher_outputs(teacher, task)
    no_maps = type(outputs)(outputs.logits_train, {}, outputs.val_acc, outputs.test_acc)
    with pytest.raises(ValueError, match="feature maps for the hint position 'late'"):
        train_student(_genome(HINT), task, no_maps, TrainConfig(epochs=1, device="cpu"))


def test_torch_threads_restores_the_setting():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def test_run_job_measures_what_train_student_measures(task):
    """A worker's job is the same training as `dass train` with the worker's thread count, plus proxies."""
    before = torch.get_num_threads()
    try:
        cache = WorkerCache()
        job = _job(task, _genome(), seed=1)
        result = run_job(job, device="cpu", code_commit="abc", cache=cache)
        assert torch.get_num_threads() == THREADS_PER_WORKER  # a worker runs jobs only: it stays single-threaded
        outputs = next(iter(cache.teachers.values())).outputs
        config = TrainConfig(epochs=1, device="cpu")
        trained = train_student(_genome(), cache.task(TASK), outputs, config, seed=1, threads=THREADS_PER_WORKER)
    finally:
        torch.set_num_threads(before)
    assert result.status == "ok" and result.code_commit == "abc"
    assert (result.val_acc, result.test_acc, result.curve) == (
        trained.result.val_acc,
        trained.result.test_acc,
        trained.result.curve,
    )
    assert (result.params, result.flops) == (trained.params, trained.flops)
    assert result.teacher_acc == outputs.test_acc and result.extra["teacher_val_acc"] == outputs.val_acc
    assert set(result.extra["proxies"]) >= {"diswot", "nwot", "synflow"} and PROBE_SIZE == 64
    assert len(result.extra["task_features"]["classes"]) == 3
    assert result.extra["threads"] == THREADS_PER_WORKER and result.extra["device"] == "cpu"
    assert result.extra["precision"] == "fp32" and result_precision(result) == "fp32"


def test_a_worker_loads_each_task_and_teacher_once(task):
    cache = WorkerCache(max_teachers=1)
    before = torch.get_num_threads()
    try:
        control = _genome(Recipe.plain())  # no distillation: still measured against the teacher (proxies, teacher_acc)
        out = train_job(_job(task, control), cache=cache)
        loaded = cache.teachers[next(iter(cache.teachers))]
        again = train_job(_job(task, control, seed=1), cache=cache)
        assert cache.teachers[next(iter(cache.teachers))] is loaded and len(cache.tasks) == 1
        other = train_job(_job(task, control, teacher_epochs=2), cache=cache)  # another teacher
    finally:
        torch.set_num_threads(before)
    assert len(cache.teachers) == 1 and cache.teachers[next(iter(cache.teachers))] is not loaded  # the oldest went
    assert out.result.status == again.result.status == other.result.status == "ok"
    assert out.trained.teacher_test_acc is None  # the control did not distil
    assert out.result.teacher_acc == loaded.outputs.test_acc
    assert out.result.val_acc == out.trained.result.val_acc and out.trained.student is not None


def test_a_failed_job_is_an_error_result_never_an_exception(task):
    before = torch.get_num_threads()
    try:
        wrong = Job(**{**_job(task, _genome()).__dict__, "teacher_id": "0" * 16})
        out = train_job(wrong, cache=WorkerCache())
        missing = run_job(Job(**{**wrong.__dict__, "task_spec": "nope"}), cache=WorkerCache())
    finally:
        torch.set_num_threads(before)
    assert out.result.status == "error" and out.trained is None
    assert (
        out.result.reason.startswith("ValueError: teacher 'cnn-s' has id ")
        and "the job expects 0000" in out.result.reason
    )
    assert missing.status == "error" and "unknown task source 'nope'" in missing.reason


def test_a_jobs_precision_is_a_tag_only_when_it_is_not_fp32(task):
    job = _job(task, _genome())
    assert job_precision(job) == "fp32" and with_precision(job, "fp32") is job  # fp32 jobs stay as they were
    bf16 = with_precision(job, "bf16")
    assert job_precision(bf16) == "bf16" and bf16.tags == {**job.tags, "precision": "bf16"} and bf16.key == job.key
    assert with_precision(bf16, "fp32") == job


def test_an_old_result_without_a_precision_was_fp32():
    assert result_precision(Result("ok", val_acc=0.5)) == "fp32"
    assert result_precision(Result("ok", val_acc=0.5, extra={"precision": "bf16"})) == "bf16"


def test_a_bf16_job_on_the_cpu_fails_with_its_reason(task):
    result = run_job(with_precision(_job(task, _genome()), "bf16"), device="cpu", cache=WorkerCache())
    assert result.status == "error" and "precision 'bf16' needs a CUDA device" in result.reason
