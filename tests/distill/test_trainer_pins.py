"""The CPU trainer's results and trained weights are pinned bit for bit (see tests/data/make_trainer_pins.py).

The meta-dataset was made by this trainer on the CPU: a change made for the GPU (the device-side divergence
flag, bf16, several candidates at once) must not move a single bit of a CPU result.
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

PINS = json.loads((Path(__file__).resolve().parents[1] / "data" / "trainer_pins.json").read_text())


@pytest.fixture(scope="module")
def computed():
    if PINS["environment"] != environment():
        pytest.skip(f"pins written with {PINS['environment']}; float kernels differ bitwise on {environment()}")
    return runs()


def test_every_pinned_run_is_bit_identical(computed):
    assert set(computed) == set(PINS["runs"])
    for name, pinned in PINS["runs"].items():
        assert computed[name] == pinned, name


def test_pins_cover_ok_and_diverged_runs():
    statuses = {r["status"] for r in PINS["runs"].values() if "status" in r}
    assert statuses == {"ok", "diverged"}
    assert PINS["runs"]["diverged_epoch3"]["epochs_run"] == 2
    assert PINS["runs"]["diverged_epoch3"]["reason"] == "non-finite loss (nan) in epoch 3"


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
