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


def test_a_student_at_another_budget_is_trained_once_with_its_own_seed_and_cached(monkeypatch):
    trained = []

    def run_job(job, data_dir=None, cache=None):
        trained.append(job)
        return Result(status="ok", val_acc=0.3, test_acc=0.25)

    monkeypatch.setattr(pss, "job_of", lambda run_dir, h: (_Job(genome=h, seed=2), 100, None))
    monkeypatch.setattr(pss, "run_job", run_job)
    row = {"run_dir": "run", "genome_hash": "g1", "budget": 6, "val_acc": 0.6, "test_acc": 0.55, "curve": [0.4, 0.6]}
    cache, saves = {}, []
    worker = pss.WorkerCache()
    low = pss.at_budget(row, 1, "data", cache, lambda: saves.append(1), worker)
    assert low == {**row, "budget": 1, "val_acc": 0.3, "test_acc": 0.25, "curve": []}
    assert [(job.budget, job.seed) for job in trained] == [(1, 2)] and saves == [1]
    assert pss.at_budget(row, 1, "data", cache, lambda: saves.append(1), worker) == low and len(trained) == 1
    monkeypatch.setattr(pss, "run_job", lambda job, data_dir=None, cache=None: Result(status="diverged"))
    assert pss.at_budget(row, 3, "data", cache, lambda: None, worker) is None  # a failed training: no record


def test_the_oracle_at_a_lower_budget_adapts_to_those_records(monkeypatch):
    class Predictor:
        adapted: list = []

        def adapt(self, records, **kwargs):
            self.adapted.append([(r["budget"], r["target"]) for r in records])

        def predict(self, genomes, features, budget):
            return np.arange(len(genomes), dtype=float), None

        def reset_adaptation(self):
            pass

    rows = [{**r, "budget": 6, "val_acc": 0.5} for r in _rows(12)]
    monkeypatch.setattr(pss, "adapt_example", lambda r, landmarks: {"budget": r["budget"], "target": r["val_acc"]})
    monkeypatch.setattr(pss, "at_budget", lambda r, budget, *a: {**r, "budget": budget, "val_acc": 0.1})
    test = np.array([r["test_acc"] for r in rows])
    predictor = Predictor()
    out = pss.oracle(predictor, rows, [None] * 12, {}, 6, test, test, 4, 2, budget=1)
    assert [o["budget"] for o in out] == [1, 1] and [o["records"] for o in out] == [4, 4]
    assert all(pairs == [(1, 0.1)] * 4 for pairs in predictor.adapted)  # finetune and guarded, each draw
    full = pss.oracle(predictor, rows, [None] * 12, {}, 6, test, test, 4, 2)
    assert "budget" not in full[0] and predictor.adapted[-1] == [(6, 0.5)] * 4


def test_the_command_line_reaches_one_task(tmp_path, monkeypatch):
    import sys

    (tmp_path / "runs" / "task").mkdir(parents=True)
    seen = {}
    monkeypatch.setattr(pss, "one_task", lambda *args, **kwargs: seen.update(args=args, kwargs=kwargs))
    argv = ["x", "--runs", str(tmp_path / "runs"), "--oracle-draws", "3", "--oracle-records", "10"]
    monkeypatch.setattr(sys, "argv", argv + ["--oracle-budget", "1", "--ceiling-students", "5", "--out", "o.json"])
    with pytest.raises(SystemExit, match="no random-search runs"):
        pss.main()
    kwargs = seen["kwargs"]
    assert (kwargs["oracle_draws"], kwargs["oracle_records"], kwargs["oracle_budget"]) == (3, 10, 1)
    assert kwargs["ceiling_students"] == 5 and isinstance(kwargs["cache"], dict) and callable(kwargs["save"])
    assert kwargs["ours_dir"] is None  # the rung records of the ours runs beside the random ones
    monkeypatch.setattr(sys, "argv", argv + ["--ours-runs", str(tmp_path / "other")])
    with pytest.raises(SystemExit, match="no random-search runs"):
        pss.main()
    assert seen["kwargs"]["ours_dir"] == tmp_path / "other" / "task" / "ours"  # the same task's, in the other folder
