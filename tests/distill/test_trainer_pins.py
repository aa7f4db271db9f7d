"""The CPU trainer's results and trained weights are pinned bit for bit (see tests/data/make_trainer_pins.py).

The meta-dataset was made by this trainer on the CPU: a change made for the GPU (the device-side divergence
flag, bf16, several candidates at once) must not move a single bit of a CPU result.

Bits depend on the machine as well as the code: ``trainer_pins.json`` holds a set of pins per environment (torch
build, vector instructions, the float kernels' fingerprint), and the test checks the set of the machine it runs on.
A machine with no set of its own skips, saying so; write its set with ``make_trainer_pins.py`` at a commit whose
code reproduces an existing set on that set's machine.
"""

import importlib.util
import json
from pathlib import Path

import pytest

# a helper beside this file, shared with tests/data/make_trainer_pins.py (tests are no package: load it by path)
_spec = importlib.util.spec_from_file_location("trainer_pins", Path(__file__).with_name("trainer_pins.py"))
trainer_pins = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(trainer_pins)
environment, runs = trainer_pins.environment, trainer_pins.runs

SETS = json.loads((Path(__file__).resolve().parents[1] / "data" / "trainer_pins.json").read_text())["sets"]


@pytest.fixture(scope="module")
def pinned():
    here = environment()
    for pins in SETS:
        if pins["environment"] == here:
            return pins["runs"]
    pytest.skip(f"no pins for this machine ({here}); pinned: {[p['environment'] for p in SETS]}")


@pytest.fixture(scope="module")
def computed(pinned):
    return runs()


def test_every_pinned_run_is_bit_identical(pinned, computed):
    assert set(computed) == set(pinned)
    for name, pins in pinned.items():
        assert computed[name] == pins, name


@pytest.mark.parametrize("pins", SETS, ids=lambda p: p["environment"]["kernels"])
def test_pins_cover_ok_and_diverged_runs(pins):
    runs_ = pins["runs"]
    statuses = {r["status"] for r in runs_.values() if "status" in r}
    assert statuses == {"ok", "diverged"}
    assert runs_["diverged_epoch3"]["epochs_run"] == 2
    assert runs_["diverged_epoch3"]["reason"] == "non-finite loss (nan) in epoch 3"


def test_the_once_an_epoch_divergence_flag_gives_the_same_results(computed):
    """The GPU's way (the flag read once per epoch), run on the CPU: the same results, and the same weights
    for every run that did not diverge (a diverged run's weights went on to NaN: nothing keeps them)."""
    flagged = runs({"check_every_step": False})
    for name, pinned in computed.items():
        if pinned.get("status") == "diverged":
            assert {k: v for k, v in flagged[name].items() if k != "weights"} == {
                k: v for k, v in pinned.items() if k != "weights"
            }, name
        else:
            assert flagged[name] == pinned, name
