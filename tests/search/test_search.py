"""dass search: the pymoo problem, the search end to end (tiny, on digits), resume, bad input."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from dass.cli import main
from datasets_meta.collector import collect
from datasets_meta.store import SQLiteStore
from distill.genome import Genome, Recipe, StageGene, get_space
from search import STRATEGIES, CostModel, SearchConfig, StudentProblem, run_search
from search.problem import Decoder, GenomeDuplicateElimination, check_budget, smallest_students

TASK = "digits:classes=0-4"
TEACHER = ["--teacher", "cnn-s", "--teacher-epochs", "2"]  # the teacher the checkpoint fixture trains and caches
# A tiny search: 4 generations of 8, a bracket (4 students x 1 epoch, the best 2 x 2 epochs) every 2.
TINY = ["--generations", "4", "--population", "8", "--rungs", "1,2", "--rung-every", "2", "--rung-size", "4"]
TINY += ["--eta", "2", "--verify", "2", "--max-params", "20000", "--seed", "3", "--device", "cpu"]


def _front_is_non_dominated(rows):
    for a in rows:
        for b in rows:
            better_or_equal = b["val_acc"] >= a["val_acc"] and b["cost"] <= a["cost"]
            if better_or_equal and (b["val_acc"] > a["val_acc"] or b["cost"] < a["cost"]):
                return False
    return True


def _front_in_store(out, rows):
    with SQLiteStore(out / "records.db", writer=False) as store:
        records = {(r["genome_hash"], r["budget"]): r for r in store.records()}
    for row in rows:
        record = records[(row["genome_hash"], row["budget"])]
        assert record["status"] == "ok" and record["state"] == "done"
        assert (record["val_acc"], record["test_acc"]) == (row["val_acc"], row["test_acc"])
        assert Genome.from_json(record["genome"]).to_dict() == row["genome"]
    return True


# ------------------------------------------------------------------------------------------ problem
def test_problem_scores_the_population_in_one_call_with_costs_and_constraint(digits_task):
    space = get_space("default")
    costs = CostModel(digits_task.in_shape, digits_task.num_classes)
    calls = []

    def accuracy(genomes):
        calls.append(len(genomes))
        return np.linspace(0.5, 0.9, len(genomes)), np.full(len(genomes), 0.01)

    problem = StudentProblem(space, accuracy, costs, "params", {"params": 5000})
    rng = np.random.default_rng(0)
    X = np.stack([space.sample(rng).to_vector() for _ in range(6)])
    out = problem.evaluate(X, return_as_dictionary=True, return_values_of=["F", "G", "std"])
    genomes = problem.decode(X)
    params = costs(genomes, "params")
    assert calls == [6]
    np.testing.assert_allclose(out["F"][:, 0], -np.linspace(0.5, 0.9, 6))
    np.testing.assert_allclose(out["F"][:, 1], params)
    np.testing.assert_allclose(out["G"][:, 0], params - 5000)
    np.testing.assert_allclose(out["std"], 0.01)
    assert problem.n_var == space.n_var and problem.n_ieq_constr == 1
    assert (problem.feasible(genomes) == (params <= 5000)).all()

    latency = costs(genomes[:2], "latency")  # measured once per architecture, then cached (and saved)
    assert (latency > 0).all() and (costs(genomes[:2], "latency") == latency).all()
    restored = CostModel(digits_task.in_shape, digits_task.num_classes).load_state_dict(costs.state_dict())
    assert (restored(genomes[:2], "latency") == latency).all()
    assert (restored(genomes, "params") == params).all()


def test_duplicates_are_decoded_genomes_not_vectors():
    from pymoo.core.population import Population

    space = get_space("default")
    g = Genome(8, (StageGene("conv", 1, 8), StageGene("conv", 1, 16)), Recipe(logit_loss="mse", temperature=2.0))
    v = g.to_vector()
    other = v.copy()
    other[2 + 2 * len(space.stage_choices)] = 2  # a gene of an inactive (third) stage
    temperature = [name for name, _ in space.vector_choices()].index("temperature")
    third = v.copy()
    third[temperature] = 3  # the temperature of an MSE loss has no effect
    pop = Population.new("X", np.stack([v, other, third]))
    duplicates = GenomeDuplicateElimination(Decoder(space))._do(pop, None, np.zeros(3, dtype=bool))
    assert duplicates.tolist() == [False, True, True]


def test_infeasible_budget_names_the_budget_and_the_smallest_cost(digits_task):
    space = get_space("default")
    costs = CostModel(digits_task.in_shape, digits_task.num_classes)
    smallest = costs(smallest_students(space), "params").min()
    check_budget(space, costs, {"params": smallest})  # exactly the smallest student fits
    with pytest.raises(ValueError, match=rf"--max-params 100 is infeasible.*{int(smallest):,} parameters"):
        check_budget(space, costs, {"params": 100})


# ------------------------------------------------------------------------------------------ end to end
def _interrupting_collect(after: int):
    """The collector, with a Ctrl-C after the ``after``-th finished training (counted over every call)."""
    results = []

    def interrupting_collect(store, executor, **kw):
        def on_result(job, outcome):
            kw["on_result"](job, outcome)
            results.append(job.key)
            if len(results) == after:
                raise KeyboardInterrupt

        return collect(store, executor, **{**kw, "on_result": on_result})

    return interrupting_collect


def test_search_writes_a_verified_front_and_resumes_exactly(checkpoint, tmp_path, capsys, monkeypatch):
    first = tmp_path / "uninterrupted"
    code = main(["search", "--task", TASK, *TEACHER, "--checkpoint", checkpoint, *TINY, "--out", str(first)])
    out = capsys.readouterr().out
    assert code == 0 and "verified Pareto front" in out and "val acc" in out
    front = json.loads((first / "front.json").read_text())
    rows = front["front"]
    assert rows and _front_is_non_dominated(rows) and _front_in_store(first, rows)
    assert all(r["cost"] <= 20000 and r["budget"] == 2 and r["predicted_acc"] is not None for r in rows)
    with SQLiteStore(first / "records.db", writer=False) as store:
        assert front["trainings"] == pytest.approx(sum(r["budget"] for r in store.records()) / 2)
    for name in (
        "config.json",
        "front.csv",
        "report.md",
        "pareto.png",
        "predicted_vs_measured.png",
        "best_vs_trainings.png",
        "best/genome.json",
        "best/recipe.json",
        "best/metrics.json",
    ):
        assert (first / name).stat().st_size > 0, name
    metrics = json.loads((first / "best/metrics.json").read_text())
    assert metrics["reproduced"] and metrics["genome_hash"] == max(rows, key=lambda r: r["val_acc"])["genome_hash"]
    # the scripted student takes images in [0, 1] and reproduces the test accuracy on its own
    from distill.tasks import load_task

    task = load_task(TASK)
    scripted = torch.jit.load(str(first / "best/student_scripted.pt"))
    assert metrics["input"]["mean"] == list(task.input_mean) and metrics["input"]["shape"] == [1, 8, 8]
    images = task.x_test * task.x_test.new_tensor(task.input_std).view(1, -1, 1, 1)
    images += task.x_test.new_tensor(task.input_mean).view(1, -1, 1, 1)
    with torch.no_grad():
        accuracy = (scripted(images).argmax(1) == task.y_test).float().mean().item()
    assert accuracy == pytest.approx(metrics["test_acc"], abs=2 / len(task.y_test))
    state = torch.load(first / "best/student.pt", weights_only=True)
    assert (
        sum(v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k) == metrics["params"]
    )

    # the same search, interrupted (Ctrl-C) during the second bracket, then resumed
    import search.rungs

    second = tmp_path / "interrupted"
    monkeypatch.setattr(search.rungs, "collect", _interrupting_collect(after=8))
    code = main(["search", "--task", TASK, *TEACHER, "--checkpoint", checkpoint, *TINY, "--out", str(second)])
    assert code == 130 and f"--resume {second}" in capsys.readouterr().err
    monkeypatch.setattr(search.rungs, "collect", collect)
    with SQLiteStore(second / "records.db", writer=False) as store:
        assert store.counts()["done"] == 8 and store.counts()["running"] == 0
    assert main(["search", "--resume", str(second)]) == 0
    assert "over 2 sessions" in (second / "report.md").read_text()  # the wall time counts both
    assert "sessions" not in (first / "report.md").read_text()
    resumed = json.loads((second / "front.json").read_text())["front"]
    assert [(r["genome_hash"], r["val_acc"], r["test_acc"]) for r in resumed] == [
        (r["genome_hash"], r["val_acc"], r["test_acc"]) for r in rows
    ]
    a, b = (json.loads((d / "state.json").read_text()) for d in (first, second))
    assert a["ledger"] == b["ledger"] and a["rng"] == b["rng"] and a["predictions"] == b["predictions"]

    code = main(["search", "--task", TASK, *TEACHER, "--checkpoint", checkpoint, *TINY, "--out", str(first)])
    assert code == 2 and "--resume" in capsys.readouterr().err  # an existing run is never overwritten


def _dass(args, log, **kwargs):
    """``dass ARGS`` as a user runs it, in a session of its own (see the SIGTERM test), output to ``log``."""
    cmd = [sys.executable, "-m", "dass", *args]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, text=True, **kwargs)


@pytest.mark.slow
def test_sigterm_stops_a_search_like_ctrl_c_and_it_resumes(checkpoint, tmp_path):
    """`kill PID` on a running search: exit 130, a resume hint, no job left running; --resume finishes it.

    Both runs are processes of their own, each in a session of its own, so that the only signal either gets is
    the one this test sends. The resume used to run inside the test runner, whose SIGTERM handler its `main`
    replaces by Ctrl-C's for its duration: a SIGTERM or SIGINT meant for the runner's process group (a
    harness, a terminal, another test's cleanup) then turned the resume into exit 130, at random, in full runs
    only. Output goes to files, not pipes, so a run never blocks on a full pipe while the test waits.
    """
    out = tmp_path / "killed"
    args = ["search", "--task", TASK, *TEACHER, "--checkpoint", checkpoint, *TINY, "--out", str(out)]
    with open(tmp_path / "first.log", "w") as log:
        proc = _dass(args, log)
        deadline = time.monotonic() + 300
        done = 0
        while done < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            if (out / "records.db").exists():
                try:
                    with SQLiteStore(out / "records.db", writer=False) as store:
                        done = store.counts()["done"]
                except Exception:  # the run may be creating the database right now
                    pass
        assert proc.poll() is None, "the search ended before it could be stopped"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    err = (tmp_path / "first.log").read_text()
    assert proc.returncode == 130 and f"--resume {out}" in err, err
    with SQLiteStore(out / "records.db", writer=False) as store:
        counts = store.counts()
    assert counts["done"] >= 2 and counts["running"] == 0
    with open(tmp_path / "resume.log", "w") as log:
        resumed = _dass(["search", "--resume", str(out)], log)
        resumed.wait(timeout=600)
    assert resumed.returncode == 0, (tmp_path / "resume.log").read_text()
    assert json.loads((out / "front.json").read_text())["front"]


def test_a_predictor_that_reads_landmarks_gets_them_and_the_search_pays_for_them(landmark_checkpoint, tmp_path):
    """The task's landmarks (two reference students, 3 epochs each) are measured once, charged to the training
    budget like any training, and given to the predictor both to predict and to adapt on the rungs' records."""
    out = tmp_path / "lm"
    code = main(["search", "--task", TASK, *TEACHER, "--checkpoint", landmark_checkpoint, *TINY, "--out", str(out)])
    assert code == 0
    state = json.loads((out / "state.json").read_text())
    assert state["charges"] == {"landmarks": 2 * 3 / 2}  # 2 students x 3 epochs, in trainings of the full 2 epochs
    assert state["adapted_on"] > 0  # the rungs' records adapted the predictor, with the task's landmarks
    front = json.loads((out / "front.json").read_text())
    with SQLiteStore(out / "records.db", writer=False) as store:
        ledger = sum(r["budget"] for r in store.records()) / 2
    assert front["trainings"] == pytest.approx(ledger + 3.0)
    assert "of which outside the trainings: landmarks" in (out / "report.md").read_text()


def test_a_task_outside_the_predictors_training_range_is_noted_in_the_report(checkpoint, tmp_path):
    """The checkpoint fixture is meta-trained on one task: a search on it has no notice; a search on another task
    (rotated digits, the same teacher) lies outside it and says so, in the run's report notes."""
    from search.context import SearchRun

    notes = {}
    for name, spec in (("same", TASK), ("other", "digits:transform=rotate30")):
        config = SearchConfig(
            task=spec, teacher="cnn-s", teacher_epochs=2, out=str(tmp_path / name), checkpoint=checkpoint
        )
        (tmp_path / name).mkdir()
        run = SearchRun(config, needs_predictor=True)
        run.close()
        notes[name] = run.notes
    assert "unfamiliar task" not in notes["same"]
    note = notes["other"]["unfamiliar task"]
    assert note.startswith("this task lies outside the predictor's 1 meta-training (task, teacher) pairs on ")
    assert "extrapolation" in note


def test_the_search_loads_its_task_as_a_training_worker_does(tmp_path):
    """The task's statistics are float32 reductions whose last bit depends on the thread count: the driver
    loads the task on one thread, like a worker, so that retraining the best student reproduces its run."""
    from distill.tasks import load_task
    from search.context import SearchRun
    from search.problem import single_threaded_torch

    spec = "digits:transform=rotate30"
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        config = SearchConfig(task=spec, teacher="cnn-s", teacher_epochs=2, out=str(tmp_path), strategy="random")
        run = SearchRun(config, needs_predictor=False)
        run.close()
    finally:
        torch.set_num_threads(before)
    with single_threaded_torch():
        worker = load_task(spec)
    assert run.task.input_mean == worker.input_mean and torch.equal(run.task.x_train, worker.x_train)


def test_a_diverging_candidate_is_recorded_and_the_search_goes_on(checkpoint, tmp_path, monkeypatch):
    import datasets_meta.collector
    from datasets_meta.collector import run_job

    diverged = []

    def sometimes_diverging(job, data_dir=None, device="cpu"):
        if not diverged:  # the first student diverges
            diverged.append(job["genome_hash"])
            return {"status": "diverged", "reason": "non-finite loss (nan) in epoch 1", "curve": []}
        return run_job(job, data_dir, device)

    monkeypatch.setattr(datasets_meta.collector, "run_job", sometimes_diverging)  # what every executor runs
    config = SearchConfig(
        task=TASK,
        teacher="cnn-s",
        teacher_epochs=2,
        out=str(tmp_path / "r"),
        strategy="random",
        max_params=20000,
        rungs=(2,),
        max_trainings=3,
        save_best=False,
    )
    result = run_search(config)
    with SQLiteStore(tmp_path / "r" / "records.db", writer=False) as store:
        statuses = {r["genome_hash"]: r["status"] for r in store.records()}
    assert statuses[diverged[0]] == "diverged" and len(statuses) == 3
    assert result.front and diverged[0] not in {r["genome_hash"] for r in result.front}


USER_TEACHER = """
from torch import nn


def build():  # a plain network: no forward_features
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5),
    )
"""


@pytest.mark.parametrize("kind", ["torchscript", "module"])
def test_a_users_teacher_without_forward_features_trains_students(kind, tmp_path, monkeypatch, capsys):
    """Hint-free distillation from a TorchScript teacher or a plain module: the trainings succeed; the
    DisWOT proxies come from hooked stages of the module and are missing for TorchScript."""
    import importlib
    import sys

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "user_teacher.py").write_text(USER_TEACHER)
    sys.modules.pop("user_teacher", None)
    net = importlib.import_module("user_teacher").build()
    if kind == "torchscript":
        torch.jit.save(torch.jit.script(net), "teacher.pt")
        teacher = ["--teacher", "teacher.pt"]
    else:
        torch.save(net.state_dict(), "weights.pt")
        teacher = ["--teacher", "user_teacher:build", "--teacher-weights", "weights.pt"]
    args = ["search", "--task", TASK, *teacher, "--strategy", "random", "--rungs", "1", "--max-trainings", "2"]
    assert main([*args, "--max-params", "20000", "--no-best", "--out", "run"]) == 0, capsys.readouterr().err
    with SQLiteStore(tmp_path / "run" / "records.db", writer=False) as store:
        records = store.records()
    assert len(records) == 2 and all(r["status"] == "ok" for r in records)
    for r in records:
        proxies = r["extra"]["proxies"]
        assert proxies["nwot"] is not None and proxies["synflow"] is not None
        assert (proxies["diswot"] is None) == (kind == "torchscript")


@pytest.mark.parametrize(
    ("strategy", "least", "what"),
    [
        ("ours", "4", "one bracket of rungs (4 x 1 + 2 x 2 epochs)"),  # TINY: rung size 4, eta 2, rungs 1,2
        ("uniads", "6", "the first generation's fitness (8 x 1 epochs) and one bracket from the second rung (2 x 2"),
        ("random", "1", "one training at the full budget of 2 epoch(s)"),
    ],
)
def test_a_training_budget_too_small_for_one_verified_student_is_refused_up_front(
    strategy, least, what, checkpoint, tmp_path, capsys, monkeypatch
):
    """It used to spend the budget (7-25 s) and end with an empty front; now nothing runs, not even the task."""
    import search.context

    monkeypatch.setattr(search.context, "load_task", lambda *a, **k: pytest.fail("the task was loaded"))
    args = ["search", "--task", TASK, *TEACHER, "--strategy", strategy, "--checkpoint", checkpoint, *TINY]
    err = _one_line_error(capsys, main([*args, "--max-trainings", "0.5", "--out", str(tmp_path / "r")]))
    assert f"--max-trainings 0.5 cannot pay for {what}" in err and f"give at least {least} " in err
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------------------------------ bad input
def _one_line_error(capsys, code):
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    return err


def test_bad_input_is_one_line_and_exit_2(checkpoint, tmp_path, capsys):
    base = ["search", "--task", TASK, *TEACHER, "--out", str(tmp_path / "x")]
    err = _one_line_error(capsys, main([*base, "--strategy", "grid"]))
    assert "'grid'" in err and all(s in err for s in STRATEGIES.names())
    err = _one_line_error(capsys, main([*base, "--strategy", "random", "--objective", "energy"]))
    assert "params, flops, latency" in err and "'energy'" in err
    err = _one_line_error(capsys, main([*base, "--checkpoint", checkpoint, "--max-params", "100"]))
    assert "--max-params 100 is infeasible" in err and "smallest student" in err
    assert not (tmp_path / "x").exists()  # a refused search leaves no empty run directory behind
    err = _one_line_error(
        capsys, main([*base, "--strategy", "random", "--executor", "ray", "--ray-address", "127.0.0.1:1"])
    )
    assert "cannot reach a Ray cluster" in err and "--executor local" in err
    err = _one_line_error(capsys, main(["search", "--task", TASK, "--out", str(tmp_path / "y")]))
    assert "--teacher" in err
    err = _one_line_error(capsys, main(["search", "--resume", str(tmp_path / "nothing")]))
    assert "config.json" in err
    err = _one_line_error(capsys, main([*base, "--checkpoint", str(tmp_path / "missing.pt")]))
    assert "missing.pt" in err
    try:
        import wandb  # noqa: F401
    except ImportError:
        err = _one_line_error(capsys, main([*base, "--strategy", "random", "--wandb"]))
        assert "wandb" in err.lower()

    # a TorchScript teacher for 3 classes does not fit a 5-class task
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    path = tmp_path / "teacher3.pt"
    torch.jit.save(torch.jit.script(net), str(path))
    err = _one_line_error(
        capsys,
        main(["search", "--task", TASK, "--teacher", str(path), "--strategy", "random", "--out", str(tmp_path / "z")]),
    )
    assert "3 classes" in err and "5" in err


def test_cost_model_prices_a_block_without_a_parameter_count(monkeypatch):
    from distill.cost import count_params
    from distill.nets import BLOCKS, ConvBlock, build_student

    class Uncounted(torch.nn.Module):  # a user's block type that does not count its own parameters
        def __init__(self, cin, cout, stride, kernel, expansion=1, se=False):
            super().__init__()
            self.body = ConvBlock(cin, cout, stride, kernel, expansion, se)

        def forward(self, x):
            return self.body(x)

    monkeypatch.setitem(BLOCKS._entries, "uncounted", Uncounted)
    genome = Genome(
        stem_width=8, stages=(StageGene("uncounted", 1, 12, 3, 1, False), StageGene("conv", 2, 16, 3, 1, True))
    )
    costs = CostModel((1, 8, 8), 10)
    assert costs([genome], "params")[0] == count_params(build_student(genome, (1, 8, 8), 10))


# ------------------------------------------------------------------------------------------ scouts
def test_scouts_train_first_at_the_first_rung_adapt_the_predictor_and_resume_exactly(
    checkpoint, tmp_path, capsys, monkeypatch
):
    """``--scouts 4``: four random students under the budget, trained at 1 epoch before the first generation and
    the predictor adapted to them; the report says how the predictor ranked them; a run interrupted among the
    scouts resumes to the uninterrupted run's trainings and front."""
    import search.rungs

    args = ["search", "--task", TASK, *TEACHER, "--checkpoint", checkpoint, *TINY, "--no-best", "--scouts", "4"]
    first = tmp_path / "uninterrupted"
    assert main([*args, "--out", str(first)]) == 0, capsys.readouterr().err
    state = json.loads((first / "state.json").read_text())
    scouts = state["ledger"][:4]
    assert [key[3] for key in scouts] == [1, 1, 1, 1] and len({key[2] for key in scouts}) == 4  # budget, hash
    with SQLiteStore(first / "records.db", writer=False) as store:
        genomes = {r["genome_hash"]: Genome.from_json(r["genome"]) for r in store.records()}
    costs = CostModel((1, 8, 8), 5)
    assert all(costs([genomes[key[2]]], "params")[0] <= 20000 for key in scouts)
    assert state["scouted"] and state["adapted_on"] > 4
    report = (first / "report.md").read_text()
    assert "scouts: 4 random students trained at 1 epoch(s), 4 without failure; the meta-trained predictor" in report

    second = tmp_path / "interrupted"
    monkeypatch.setattr(search.rungs, "collect", _interrupting_collect(after=2))
    assert main([*args, "--out", str(second)]) == 130
    monkeypatch.setattr(search.rungs, "collect", collect)
    assert not (second / "state.json").exists()  # stopped among the scouts: nothing of the search was saved yet
    assert main(["search", "--resume", str(second)]) == 0
    b = json.loads((second / "state.json").read_text())
    assert b["ledger"] == state["ledger"] and b["rng"] == state["rng"] and b["predictions"] == state["predictions"]
    front = [(r["genome_hash"], r["val_acc"]) for r in json.loads((first / "front.json").read_text())["front"]]
    assert [(r["genome_hash"], r["val_acc"]) for r in json.loads((second / "front.json").read_text())["front"]] == front
    assert "scouts: 4 random students" in (second / "report.md").read_text()


def test_scouts_are_refused_where_they_cannot_be_paid_for_or_are_not_read(checkpoint, tmp_path, capsys):
    base = ["search", "--task", TASK, *TEACHER, "--checkpoint", checkpoint, *TINY, "--scouts", "4"]
    err = _one_line_error(capsys, main([*base, "--max-trainings", "5.5", "--out", str(tmp_path / "a")]))
    assert "cannot pay for 4 scouts x 1 epochs and one bracket of rungs (4 x 1 + 2 x 2 epochs)" in err
    assert "give at least 6 " in err
    err = _one_line_error(capsys, main([*base, "--strategy", "random", "--out", str(tmp_path / "b")]))
    assert "--scouts 4 is read by --strategy ours only; got --strategy random" in err
    with pytest.raises(SystemExit) as exit_:  # argparse's own error: a usage line, then the error
        main([*base[:-1], "-1", "--out", str(tmp_path / "c")])
    assert exit_.value.code == 2
    assert "argument --scouts: must be an integer >= 0; got '-1'" in capsys.readouterr().err.splitlines()[-1]
    assert not any(tmp_path.iterdir())


def test_a_bracket_the_budget_cannot_pay_in_full_is_not_started(checkpoint, tmp_path, capsys):
    """TINY's brackets cost 4 trainings each (4 x 1 + 2 x 2 epochs, full budget 2): with 6, the second bracket would
    train its first rung and stop short of a verified student; it is not started, and the 2 trainings left verify
    the final candidates at the full budget instead."""
    out = tmp_path / "r"
    args = ["search", "--task", TASK, *TEACHER, "--checkpoint", checkpoint, *TINY, "--no-best"]
    assert main([*args, "--max-trainings", "6", "--out", str(out)]) == 0, capsys.readouterr().err
    with SQLiteStore(out / "records.db", writer=False) as store:
        budgets = sorted(r["budget"] for r in store.records())
    # one bracket (2 of 4 promoted to the full budget), then the final candidates not trained yet, at the full budget
    assert budgets.count(1) == 4 and budgets.count(2) > 2
    assert json.loads((out / "front.json").read_text())["trainings"] <= 6
