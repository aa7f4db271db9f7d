"""A supernet training killed with SIGKILL and resumed ends with the weights of one that never stopped."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from distill.job import torch_threads
from distill.supernet import build_supernet, get_subspaces
from distill.supernet.training import SupernetConfig, load_checkpoint, train_supernet
from distill.tasks import load_task
from distill.trainer import TeacherOutputs

ROOT = Path(__file__).resolve().parents[3]
TASK = "digits:classes=0-4"
CONFIG = SupernetConfig(steps=8, batch_size=64, checkpoint_every=3, device="cpu")

# The child trains the same supernet and stops for good at step PAUSE_AT (after step 3's checkpoint, before
# step 6's): it says so in a marker file and waits there to be killed.
CHILD = """
import signal, sys
from pathlib import Path
import torch
sys.path.insert(0, {root!r})
from tests.distill.supernet.test_resume import CONFIG, TASK, setup
from distill.supernet.training import train_supernet

torch.set_num_threads(1)
checkpoint, pause_at, marker = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
net, task, teacher = setup()

def on_step(step):
    if step == pause_at:
        marker.write_text(str(step))
        while True:
            signal.pause()

train_supernet(net, task, teacher, CONFIG, seed=0, checkpoint=checkpoint, on_step=on_step)
"""


def setup():
    task = load_task(TASK)
    gen = torch.Generator().manual_seed(0)
    teacher = TeacherOutputs(torch.randn(len(task.x_train), task.num_classes, generator=gen), {}, 0.0, 0.0)
    net = build_supernet(get_subspaces("default")["tiny"], task.in_shape, task.num_classes, seed=0)
    return net, task, teacher


def test_a_killed_training_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    with torch_threads(1):
        reference, task, teacher = setup()
        assert train_supernet(reference, task, teacher, CONFIG, 0, tmp_path / "ref.pt").status == "ok"

    checkpoint, marker = tmp_path / "killed.pt", tmp_path / "paused"
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(ROOT)))
    child = subprocess.Popen(
        [sys.executable, str(script), str(checkpoint), "5", str(marker)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 300
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), child.stderr.read().decode() if child.poll() is not None else "the child never paused"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert load_checkpoint(checkpoint)["step"] == 3  # steps 4 and 5 were lost with the process

    with torch_threads(1):
        resumed, _, _ = setup()
        run = train_supernet(resumed, task, teacher, CONFIG, 0, checkpoint)
    assert run.status == "ok" and run.resumed_from == 3 and run.steps == CONFIG.steps
    expected, got = reference.state_dict(), resumed.state_dict()
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())  # every write was atomic
