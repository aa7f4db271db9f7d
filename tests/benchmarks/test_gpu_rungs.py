"""benchmarks/gpu_rungs.py works before a GPU run: its smoke mode runs every path on the CPU with a tiny workload.

Not timings (those come from a GPU): that the script runs to its end through the raw multi-candidate path and
the product's own paths (a rung through search.rungs, a student's label seeds through the collector), that every
way trains the same candidates to the same accuracies, and that without a GPU it refuses with one line.
"""

import pytest

from benchmarks import gpu_rungs


@pytest.mark.slow
def test_the_smoke_run_goes_through_every_path_and_both_ways_agree(capsys, monkeypatch):
    monkeypatch.delenv("DASS_GROUP", raising=False)
    report = gpu_rungs.main(["--smoke"])
    assert "smoke run: nothing written" in capsys.readouterr().out
    paths = [(row["path"], row["rung"]) for row in report["rungs"]]
    assert [p for p, _ in paths] == ["raw", "raw", "product", "product"]
    assert paths[2][1].endswith("via search.rungs") and paths[3][1].endswith("label seeds via collect")
    assert report["group"] == 2 and report["device"] == "cpu"
    for row in report["rungs"]:
        alone, together = row["one_at_a_time"], row["together"]
        assert alone["statuses"] == together["statuses"] == {"ok": row["candidates"]}
        assert alone["mean_test_acc"] == together["mean_test_acc"]  # the same trainings, bit for bit on the CPU


@pytest.mark.parametrize("argv", [[], ["--device", "cpu"]])
def test_without_a_gpu_it_refuses_with_one_line(argv, capsys):
    if argv == [] and gpu_rungs.torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the default device is there")
    with pytest.raises(SystemExit) as e:
        gpu_rungs.main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "GPU figures need a CUDA device" in err
