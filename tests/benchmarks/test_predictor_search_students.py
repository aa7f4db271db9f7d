"""The noise ceiling of a search's students: a sample trained again with a fresh seed, each training cached."""

import dataclasses

import numpy as np
import pytest

import benchmarks.predictor_search_students as pss
from distill.records import Result


@dataclasses.dataclass(frozen=True)
class _Job:
    task_id: str = "t"
    teacher_id: str = "vgg-s"
    budget: int = 6
    seed: int = 0
    genome: str = ""


def _rows(n: int) -> list[dict]:
    return [{"run_dir": "run", "genome_hash": f"g{i}", "test_acc": i / n} for i in range(n)]


def test_the_ceiling_trains_a_seeded_sample_once_with_a_fresh_seed(monkeypatch):
    trained = []

    def run_job(job, data_dir=None, cache=None):
        trained.append(job)
        # the second training agrees with the first up to the order of two neighbouring students
        i = int(job.genome.removeprefix("g"))
        return Result(status="ok", val_acc=0.5, test_acc=(i + (1.5 if i % 4 == 0 else 0)) / 20)

    monkeypatch.setattr(pss, "job_of", lambda run_dir, genome_hash: (_Job(genome=genome_hash), 100, None))
    monkeypatch.setattr(pss, "run_job", run_job)
    rows, cache, saves = _rows(20), {}, []
    out = pss.ceiling(rows, 10, "data", cache, lambda: saves.append(len(cache)))
    assert out["students"] == 10 and len(trained) == 10 and saves == list(range(1, 11))
    assert {job.seed for job in trained} == {pss.CEILING_SEED}
    sample = sorted(int(job.genome[1:]) for job in trained)
    assert sample == sorted(np.random.default_rng(0).permutation(20)[:10])  # seeded: the same sample every run
    first = np.array(sample) / 20
    second = np.array([(i + (1.5 if i % 4 == 0 else 0)) / 20 for i in sample])
    assert out["spearman"] == pytest.approx(pss.rho(first, second)) and out["spearman"] < 1
    # a second run trains nothing: every training is in the cache
    assert pss.ceiling(rows, 10, "data", cache, lambda: saves.append(0)) == out and len(trained) == 10


def test_the_ceiling_refuses_a_student_trained_with_its_seed_already(monkeypatch):
    monkeypatch.setattr(pss, "job_of", lambda run_dir, h: (_Job(genome=h, seed=pss.CEILING_SEED), 100, None))
    with pytest.raises(SystemExit, match="seed 100"):
        pss.ceiling(_rows(4), 2, "data", {}, lambda: None)
