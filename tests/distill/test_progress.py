"""The shared progress report: a bar with an ETA on a terminal, a periodic status line otherwise."""

import io
import time

import pytest
import torch
import torch.nn.functional as F

from distill import progress as progress_module
from distill.genome import StageGene
from distill.nets import build_net
from distill.progress import Progress, default_mode, format_duration
from distill.trainer import TrainConfig, fit


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def wait_for(condition, deadline_s: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or the deadline passes (no sleep racing a thread)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_durations_are_short():
    assert [format_duration(s) for s in (0, 42.4, 185, 7620)] == ["0s", "42s", "3m05s", "2h07m"]


def test_the_status_line_says_how_far_how_long_and_the_eta():
    clock = FakeClock()
    with Progress("dass evaluate", total=12, unit="group", mode="off", clock=clock) as p:
        assert p.status_line() == "dass evaluate: 0/12 groups (0%), 0s elapsed"  # no ETA before a first unit
        clock.now += 60
        p.update(3)
        assert p.status_line() == "dass evaluate: 3/12 groups (25%), 1m00s elapsed, ETA 3m00s"
        p.note(best="0.91")
        assert p.status_line().endswith("ETA 3m00s; best=0.91")
        p.phase("meta-test", total=4, unit="group")  # a new phase: count and clock start again
        clock.now += 10
        p.update()
        assert p.status_line() == "dass evaluate: meta-test: 1/4 groups (25%), 10s elapsed, ETA 30s; best=0.91"
        p.update_to(4)
        assert p.status_line().startswith("dass evaluate: meta-test: 4/4 groups (100%), 10s elapsed;")


def test_a_resumed_count_estimates_from_this_run_only():
    clock = FakeClock()
    p = Progress("dass collect", total=100, unit="job", initial=50, mode="off", clock=clock)
    clock.now += 100
    p.update(10)  # 10 jobs in 100 s: 40 more take 400 s, whatever the 50 of an earlier run took
    assert p.status_line() == "dass collect: 60/100 jobs (60%), 1m40s elapsed, ETA 6m40s"
    assert Progress("x", mode="off").status_line() == "x: 0 its, 0s elapsed"  # unknown total: a count


def test_without_a_terminal_a_status_line_comes_every_interval():
    stream = io.StringIO()
    p = Progress("dass pretrain", total=5, unit="fit", stream=stream, interval_s=0.02)
    assert p.mode == "lines"
    p.update(2)
    assert wait_for(lambda: stream.getvalue().count("\n") >= 2)  # periodic, even while no unit finishes
    p.close()
    assert p._ticker is None
    written = stream.getvalue()
    assert written.splitlines()[0].startswith("dass pretrain: 2/5 fits (40%), ")
    p.close()  # twice is fine
    assert stream.getvalue() == written  # nothing after close


def test_on_a_terminal_a_bar_with_an_eta():
    stream = Terminal()
    with Progress("dass collect", total=4, unit="job", stream=stream) as p:
        assert p.mode == "bar"
        p.update(2)
        p.note(done=2)
    shown = stream.getvalue()
    assert "dass collect" in shown and "2/4" in shown and "job" in shown and "<" in shown  # tqdm's elapsed<ETA


def test_off_shows_nothing_and_starts_no_thread():
    stream = io.StringIO()
    with Progress("x", total=3, mode="off", stream=stream, interval_s=0.001) as p:
        p.update(3)
        assert p._ticker is None
    assert stream.getvalue() == ""
    assert Progress.off().mode == "off"


def test_default_mode_follows_the_stream_and_a_pool_worker_shows_nothing(monkeypatch):
    assert default_mode(io.StringIO()) == "lines"
    assert default_mode(Terminal()) == "bar"
    monkeypatch.setattr(progress_module.multiprocessing, "parent_process", lambda: object())
    assert default_mode(Terminal()) == "off"


def test_bad_settings_are_clear_errors(monkeypatch):
    with pytest.raises(ValueError, match=r"progress mode must be one of \('bar', 'lines', 'off'\); got 'loud'"):
        Progress("x", mode="loud")
    monkeypatch.setenv("DASS_PROGRESS_INTERVAL", "soon")
    with pytest.raises(ValueError, match=r"\$DASS_PROGRESS_INTERVAL must be a positive number of seconds; got 'soon'"):
        Progress("x", mode="off")
    monkeypatch.setenv("DASS_PROGRESS_INTERVAL", "2.5")
    assert Progress("x", mode="off").interval_s == 2.5


def test_fit_reports_every_epoch_and_trains_the_same(digits_task):
    """``on_epoch`` only observes: the run with it is bit-identical to the run without."""
    config = TrainConfig(epochs=2, batch_size=128, device="cpu")

    def train(on_epoch=None):
        model = build_net(8, (StageGene("basic", 1, 8),), digits_task.in_shape, digits_task.num_classes, seed=0)
        result = fit(model, digits_task, lambda logits, _f, _i, y: F.cross_entropy(logits, y), config, 0, (), on_epoch)
        return result, model

    seen = []
    with_calls, model_a = train(lambda epoch, acc: seen.append((epoch, acc)))
    without, model_b = train()
    assert with_calls.status == "ok" and seen == list(enumerate(with_calls.curve, start=1))
    assert with_calls.curve == without.curve and with_calls.test_acc == without.test_acc
    assert all(torch.equal(p, q) for p, q in zip(model_a.state_dict().values(), model_b.state_dict().values()))
