"""Jobs trained together by a worker give the records each gives trained alone (the CPU, bit for bit).

A GPU worker trains a group of jobs (a rung's candidates, a student's label seeds) in one loop; a job's record
must not depend on which jobs shared its group. :func:`distill.group_job.run_jobs` is checked against
:func:`distill.job.run_job` run one job at a time, field by field (timings aside), with a job that fails while
loading and one whose recipe needs a teacher that cannot serve it.
"""

import dataclasses

import numpy as np
import pytest
import torch

from distill.genome import Genome, Recipe, StageGene, get_space
from distill.group_job import DeviceCache, run_jobs
from distill.job import WorkerCache, run_job
from distill.records import Job
from distill.tasks import load_task
from distill.teachers import teacher_config, teacher_id

TASK = "digits:classes=0-2"
TEACHER_EPOCHS = 1
TIMINGS = ("train_time_s",)
EXTRA_TIMINGS = ("job_time_s",)


def _job(genome: Genome, seed: int, budget: int = 2, teacher: str = "cnn-s", **tags) -> Job:
    task = load_task(TASK)
    return Job(
        task_id=task.id,
        teacher_id=teacher_id(teacher, task, config=teacher_config(TEACHER_EPOCHS)),
        genome_hash=genome.hash,
        budget=budget,
        seed=seed,
        task_spec=TASK,
        teacher=teacher,
        genome=genome.to_json(indent=None),
        suite="group-test",
        tags={"teacher_epochs": TEACHER_EPOCHS, **tags},
    )


def _without_timings(result) -> dict:
    d = dataclasses.asdict(result)
    for k in TIMINGS:
        d.pop(k)
    d["extra"] = {k: v for k, v in d["extra"].items() if k not in EXTRA_TIMINGS}
    return d


def _jobs() -> list[Job]:
    """A student's three label seeds (a KD recipe), a control, a feature hint, a sampled genome, another teacher
    (its own loop), a longer budget (its own loop) and a job whose genome does not parse."""
    arch = Genome(8, (StageGene("basic", 1, 8), StageGene("mbconv", 1, 16, 3, 4, True)), Recipe.plain())
    kd = arch.with_recipe(Recipe("kl", 4.0, 0.5, 1.0))
    hint = arch.with_recipe(Recipe("none", 1.0, 1.0, 1.0, "mid", "attention", "mse", 1.0))
    sampled = get_space("default").sample(np.random.default_rng(5))
    broken = dataclasses.replace(_job(kd, 0), genome='{"not": "a genome"}', genome_hash="broken")
    return [
        _job(kd, 0),
        _job(kd, 1),
        _job(arch, 0),
        broken,
        _job(kd, 2),
        _job(hint, 0),
        _job(sampled, 3),
        _job(kd, 0, teacher="resnet-s"),
        _job(kd, 0, budget=1),
    ]


def test_jobs_trained_together_give_the_records_of_jobs_trained_alone():
    jobs = _jobs()
    alone = [_without_timings(run_job(j, code_commit="abc", cache=WorkerCache())) for j in jobs]
    together = run_jobs(jobs, code_commit="abc", cache=WorkerCache(), device_cache=DeviceCache())
    assert [r["status"] for r in alone] == ["ok"] * 3 + ["error"] + ["ok"] * 5
    assert alone[3]["reason"] == together[3].reason and alone[3]["reason"].startswith("ValueError: unknown key")
    assert [_without_timings(r) for r in together] == alone
    # another company (a subset, another order) changes nothing either
    subset = [6, 0, 8]
    again = run_jobs([jobs[i] for i in subset], code_commit="abc", cache=WorkerCache())
    assert [_without_timings(r) for r in again] == [alone[i] for i in subset]


def test_a_precision_the_device_lacks_fails_its_jobs_with_the_reason_run_job_gives():
    arch = Genome(8, (StageGene("basic", 1, 8), StageGene("basic", 1, 8)), Recipe.plain())
    jobs = [_job(arch, s, budget=1, precision="bf16") for s in (0, 1)]
    alone = [run_job(j, cache=WorkerCache()) for j in jobs]
    together = run_jobs(jobs, cache=WorkerCache())
    assert [r.status for r in together] == ["error", "error"]
    assert [r.reason for r in together] == [r.reason for r in alone] and "bf16" in together[0].reason


def test_the_device_cache_keeps_nothing_on_the_cpu_and_copies_once_elsewhere():
    task = load_task(TASK)
    from distill.trainer import TeacherOutputs

    outputs = TeacherOutputs(torch.zeros(len(task.x_train), 3, dtype=torch.float16), {}, 0.5, 0.5)
    cache = DeviceCache()
    assert cache.get(task, outputs, torch.device("cpu"), set()) == (task, outputs) and not cache.entries
    meta = torch.device("meta")  # a device without memory: what is copied there, and how often
    first = cache.get(task, outputs, meta, set())
    again = cache.get(task, outputs, meta, set())
    assert first[0].x_train.device.type == "meta" and first[1].logits_train.dtype == torch.float32
    assert again[0].x_train is first[0].x_train and again[1].logits_train is first[1].logits_train
    assert len(cache.entries) == 1


@pytest.mark.parametrize("n", [1, 2])
def test_an_empty_or_tiny_group_runs(n):
    arch = Genome(8, (StageGene("basic", 1, 8), StageGene("basic", 1, 8)), Recipe.plain())
    assert run_jobs([]) == []
    assert [r.status for r in run_jobs([_job(arch, s, budget=1) for s in range(n)], cache=WorkerCache())] == ["ok"] * n
