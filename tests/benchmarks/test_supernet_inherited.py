"""benchmarks/supernet_inherited.py --quick: every figure is written, and a stopped run resumes without retraining."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks import supernet_inherited as bench
from distill.io import write_json


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # main() sets --threads for the whole process


def test_quick_run_writes_every_figure_and_resumes(tmp_path, monkeypatch, one_thread):
    monkeypatch.setenv("DASS_CACHE", str(tmp_path / "cache"))
    out, work = tmp_path / "out.json", tmp_path / "work"
    argv = ["--quick", "--out", str(out), "--work-dir", str(work)]
    bench.main(argv)
    result = json.loads(out.read_text())
    rows = {r["case"]: r for r in result["summary"]}
    assert set(rows) == {"staged_cnn/digits:n_train=200", "vit/digits:n_train=200"}
    for key, row in rows.items():
        case = result["cases"][key]
        assert row["sub_networks"] == 4 and len(case["inherited"]) == 4 and len(case["standalone"]) == 4
        assert all(set(runs) == {"0", "1"} for runs in case["standalone"].values())
        assert row["supernet_fbe"] > 0 and row["score_1000_s"] > 0 and case["scored"] == 8
        for name in ("kendall", "spearman", "params_spearman"):
            assert -1 <= row[name] <= 1
    assert rows["vit/digits:n_train=200"]["objective"] == "relation"

    # a run stopped before its last training: only that one is trained again, the supernets are not
    state = json.loads((work / bench.STATE_FILE).read_text())
    key = "vit/digits:n_train=200"
    first = next(iter(state["cases"][key]["standalone"]))
    del state["cases"][key]["standalone"][first]["1"]
    write_json(work / bench.STATE_FILE, state)
    trained = []
    distil = bench.distil

    def counted(genome, *args, **kwargs):
        trained.append((genome.hash, kwargs["seed"]))
        return distil(genome, *args, **kwargs)

    monkeypatch.setattr(bench, "distil", counted)
    monkeypatch.setattr(bench, "train_supernet", lambda *a, **k: pytest.fail("a trained supernet was trained again"))
    bench.main(argv)
    assert trained == [(first, 1)]

    # another setting in the same work directory is refused, not mixed in
    monkeypatch.setattr(bench, "QUICK", bench.replace(bench.QUICK, subnets=5))
    with pytest.raises(SystemExit, match="holds a run with other settings"):
        bench.main(argv)
